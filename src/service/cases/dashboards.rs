//! The dashboards of lawyers and citizens: counts per status, quick stats and the citizen's
//! recent activity (docs/api.md 3.3 #3, 3.4 #1, #2).

use std::collections::HashMap;

use serde_json::Value;

use crate::db::Db;
use crate::domain::case::{CaseStatus, CaseType};
use crate::domain::connection::ConnectionStatus;
use crate::domain::page::Params;
use crate::error::AppResult;
use crate::ids::Id;
use crate::service::people::{LAWYER_BRIEF, load_users, user_ref};
use crate::state::AppState;
use crate::store::cases::{self as store, Party};
use crate::store::users::User;
use crate::time::Timestamp;

use super::views::{ActivityFeed, ActivityItem, CitizenDashboard, CitizenQuickStats, LawyerDashboard, to_json};

pub(super) fn count(counts: &HashMap<(CaseType, CaseStatus), i64>, t: CaseType, statuses: &[CaseStatus]) -> i64 {
    statuses.iter().map(|s| counts.get(&(t, *s)).copied().unwrap_or(0)).sum()
}

pub(super) fn total(counts: &HashMap<(CaseType, CaseStatus), i64>, t: CaseType) -> i64 {
    counts.iter().filter(|((ct, _), _)| *ct == t).map(|(_, n)| n).sum()
}

pub(super) const ACTIVE: &[CaseStatus] = CaseStatus::ACTIVE;

pub(super) const RESOLVED: &[CaseStatus] = CaseStatus::RESOLVED;

/// 3.3 #3: `data` of the lawyer dashboard.
pub async fn lawyer_dashboard(state: &AppState, lawyer: &User) -> AppResult<Value> {
    let counts = store::status_counts(&state.db, Party::AssignedLawyer(&lawyer.id)).await?;
    let clients = lawyer
        .connections
        .as_array()
        .map(|c| c.iter().filter(|c| c.get("connectionType").and_then(Value::as_str) == Some("client")).count())
        .unwrap_or(0);
    let (aq, ad) = (count(&counts, CaseType::Query, ACTIVE), count(&counts, CaseType::Dispute, ACTIVE));
    Ok(to_json(&LawyerDashboard {
        total_clients: clients,
        active_queries: aq,
        active_disputes: ad,
        total_cases: total(&counts, CaseType::Query) + total(&counts, CaseType::Dispute),
        resolved_cases: count(&counts, CaseType::Query, RESOLVED) + count(&counts, CaseType::Dispute, RESOLVED),
        active_cases: aq + ad,
    }))
}

/// What the citizen dashboard and the quick stats are computed from.
pub(super) struct CitizenCounts {
    pub(super) by_status: HashMap<(CaseType, CaseStatus), i64>,
    pub(super) pending_requests: i64,
    pub(super) received_offers: i64,
    pub(super) connected: i64,
}

pub(super) async fn citizen_counts(db: &Db, citizen: &Id) -> AppResult<CitizenCounts> {
    let c = store::citizen_counts(db, citizen).await?;
    Ok(CitizenCounts {
        by_status: c.by_status,
        pending_requests: c.with_pending_asks + c.pending_connections,
        received_offers: c.with_pending_offers,
        connected: c.connected,
    })
}

/// The `{totalCases, activeCases, resolvedCases, connectedLawyers, pendingRequests}` payload of
/// `dashboard_stats_updated` / `quick_stats_updated` (docs/api.md 3.5 #1; `activeCases` = total
/// minus resolved), with real numbers. Also for the connections service (3.4 #15).
pub async fn citizen_quick_stats(db: &Db, citizen: &Id) -> AppResult<Value> {
    let c = citizen_counts(db, citizen).await?;
    let total_cases = total(&c.by_status, CaseType::Query) + total(&c.by_status, CaseType::Dispute);
    let resolved = count(&c.by_status, CaseType::Query, RESOLVED) + count(&c.by_status, CaseType::Dispute, RESOLVED);
    Ok(to_json(&CitizenQuickStats {
        total_cases,
        active_cases: total_cases - resolved,
        resolved_cases: resolved,
        connected_lawyers: c.connected,
        pending_requests: c.pending_requests,
    }))
}

/// 3.4 #1: `data` of the citizen dashboard.
pub async fn citizen_dashboard(state: &AppState, citizen: &User) -> AppResult<Value> {
    let c = citizen_counts(&state.db, &citizen.id).await?;
    let s = &c.by_status;
    let (tq, aq, rq) =
        (total(s, CaseType::Query), count(s, CaseType::Query, ACTIVE), count(s, CaseType::Query, RESOLVED));
    let (td, ad, rd) =
        (total(s, CaseType::Dispute), count(s, CaseType::Dispute, ACTIVE), count(s, CaseType::Dispute, RESOLVED));
    Ok(to_json(&CitizenDashboard {
        total_queries: tq,
        active_queries: aq,
        resolved_queries: rq,
        total_disputes: td,
        active_disputes: ad,
        resolved_disputes: rd,
        total_cases: tq + td,
        active_cases: aq + ad,
        resolved_cases: rq + rd,
        connected_lawyers: c.connected,
        pending_requests: c.pending_requests,
        received_offers: c.received_offers,
    }))
}

/// 3.4 #2: the newest cases and connections of the citizen as activity items (at most 5),
/// and how many there were before truncation. Reading never writes.
pub async fn recent_activity(state: &AppState, citizen: &User, params: &Params) -> AppResult<Value> {
    let limit = params.limit(10);
    let db = &state.db;
    let mut cases = store::newest_of_citizen(db, &citizen.id, CaseType::Query, limit).await?;
    cases.extend(store::newest_of_citizen(db, &citizen.id, CaseType::Dispute, limit).await?);
    let connections = store::newest_connections(db, &citizen.id, limit).await?;
    let people = cases
        .iter()
        .filter_map(|c| c.assigned_lawyer_id.clone())
        .chain(connections.iter().map(|c| c.lawyer_id.clone()));
    let users = load_users(state, people).await?;
    let lawyer = |id: Option<&Id>| id.map(|id| user_ref(&users, id, Some(LAWYER_BRIEF))).unwrap_or(Value::Null);
    let mut items: Vec<(Timestamp, ActivityItem<'_>)> = Vec::new();
    for c in &cases {
        let latest =
            c.timeline.as_array().and_then(|t| t.last()).and_then(|t| t.get("description")).and_then(Value::as_str);
        let description = latest.unwrap_or(c.case_type.submitted());
        let item = ActivityItem::case(c, description, Some(lawyer(c.assigned_lawyer_id.as_ref())));
        items.push((c.created_at, item));
    }
    let descriptions: Vec<String> = connections
        .iter()
        .map(|conn| {
            let name = users.get(&conn.lawyer_id).map(|u| u.name.as_str()).unwrap_or("lawyer");
            match conn.status {
                ConnectionStatus::Pending => format!("Connection request sent to {name}"),
                ConnectionStatus::Accepted => format!("Connected with {name}"),
                ConnectionStatus::Rejected => format!("Connection request declined by {name}"),
                ConnectionStatus::Blocked => format!("Direct connection with {name}"),
            }
        })
        .collect();
    for (conn, description) in connections.iter().zip(&descriptions) {
        let item = ActivityItem {
            id: &conn.id,
            kind: "connection",
            title: "Direct Lawyer Connection",
            description,
            status: conn.status.as_str(),
            timestamp: conn.created_at,
            assigned_lawyer: Some(lawyer(Some(&conn.lawyer_id))),
            category: "consultation",
            priority: "medium",
            dispute_type: None,
        };
        items.push((conn.created_at, item));
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    let total = items.len();
    let activities = items.into_iter().take(5).map(|(_, item)| item).collect();
    Ok(to_json(&ActivityFeed { activities, total }))
}
