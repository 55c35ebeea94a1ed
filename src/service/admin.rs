//! Admin dashboards, user management and lawyer verification (docs/api.md 3.2).

use chrono::Datelike;
use serde_json::{Value, json};

use crate::cache::Tag;
use crate::domain::page::legacy_pagination;
use crate::domain::page::{Page, Params};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::mail::templates;
use crate::service::accounts::views::CleanUser;
use crate::service::people;
use crate::state::AppState;
use crate::store::reports;
use crate::store::users::{self, Role, User, UserQuery, VerificationStatus};

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Placeholder revenue figures until payments exist (the original's fixed numbers).
fn revenue_placeholder() -> Value {
    json!({"totalRevenue": 125000, "monthlyRevenue": 15000, "growthRate": 12.5, "averageConsultationFee": 1500})
}

/// Counts per case type: `(all, resolved)`.
fn totals(counts: &[(String, String, i64)], case_type: &str) -> (i64, i64) {
    counts
        .iter()
        .filter(|(t, _, _)| t == case_type)
        .fold((0, 0), |(all, resolved), (_, status, n)| (all + n, resolved + if status == "resolved" { *n } else { 0 }))
}

/// `[{_id: status, count}]` of one case type.
fn status_stats(counts: &[(String, String, i64)], case_type: &str) -> Value {
    counts.iter().filter(|(t, _, _)| t == case_type).map(|(_, status, n)| json!({"_id": status, "count": n})).collect()
}

/// 3.2 #1: counts, the five newest queries and disputes, this year's creations per month
/// (whole calendar months, UTC) and the revenue placeholder.
pub async fn analytics(state: &AppState) -> AppResult<Value> {
    let db = &state.db;
    let year = chrono::Utc::now().year();
    let (from, until) = (format!("{year:04}-01-01T00:00:00.000Z"), format!("{:04}-01-01T00:00:00.000Z", year + 1));
    let (citizens, lawyers, pending, counts, queries, disputes, per_month) = tokio::try_join!(
        users::count_active(db, Role::Citizen),
        users::count_active(db, Role::Lawyer),
        users::count_pending_lawyers(db),
        reports::case_counts(db),
        reports::newest_cases(db, "query", 5),
        reports::newest_cases(db, "dispute", 5),
        reports::created_per_month(db, &from, &until),
    )?;
    let (total_queries, completed_queries) = totals(&counts, "query");
    let (total_disputes, completed_disputes) = totals(&counts, "dispute");
    let monthly: Vec<Value> = MONTHS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let month = format!("{:02}", i + 1);
            let count = |case_type: &str| {
                per_month.iter().filter(|(t, m, _)| t == case_type && *m == month).map(|(_, _, n)| n).sum::<i64>()
            };
            json!({"month": name, "queries": count("query"), "disputes": count("dispute")})
        })
        .collect();
    Ok(json!({
        "counts": {
            "totalCitizens": citizens,
            "totalLawyers": lawyers,
            "totalQueries": total_queries,
            "totalDisputes": total_disputes,
            "completedQueries": completed_queries,
            "completedDisputes": completed_disputes,
            "pendingLawyerVerifications": pending,
        },
        "recentActivities": {
            "queries": queries.iter().map(reports::CaseSummary::to_json).collect::<Vec<_>>(),
            "disputes": disputes.iter().map(reports::CaseSummary::to_json).collect::<Vec<_>>(),
        },
        "monthlyStats": monthly,
        "revenue": revenue_placeholder(),
    }))
}

/// Average, minimum and maximum days from creation to resolution; zeros when nothing was resolved.
fn resolution_stats(spans: &[(String, String)]) -> Value {
    let days: Vec<f64> = spans
        .iter()
        .filter_map(|(created, resolved)| {
            let (c, r) = (crate::time::parse(created)?, crate::time::parse(resolved)?);
            Some((r - c).num_milliseconds() as f64 / 86_400_000.0)
        })
        .collect();
    if days.is_empty() {
        return json!({"averageResolutionTime": 0, "minResolutionTime": 0, "maxResolutionTime": 0});
    }
    let min = days.iter().copied().fold(f64::INFINITY, f64::min);
    let max = days.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({
        "_id": null,
        "averageResolutionTime": days.iter().sum::<f64>() / days.len() as f64,
        "minResolutionTime": min,
        "maxResolutionTime": max,
    })
}

/// 3.2 #2: accounts per role, cases per status, the ten lawyers with most resolved queries
/// and resolution times of queries in days.
pub async fn system_stats(state: &AppState) -> AppResult<Value> {
    let db = &state.db;
    let (roles, counts, top, spans) = tokio::try_join!(
        users::count_by_role(db),
        reports::case_counts(db),
        reports::top_lawyers_by_resolved_queries(db, 10),
        reports::resolved_query_spans(db),
    )?;
    Ok(json!({
        "userStats": roles.iter().map(|(role, n)| json!({"_id": role, "count": n})).collect::<Vec<_>>(),
        "queryStats": status_stats(&counts, "query"),
        "disputeStats": status_stats(&counts, "dispute"),
        "topLawyers": top.iter().map(|t| json!({
            "_id": t.lawyer.id,
            "resolvedCases": t.resolved,
            "lawyerName": t.lawyer.name,
            "lawyerEmail": t.lawyer.email,
        })).collect::<Vec<_>>(),
        "resolutionStats": resolution_stats(&spans),
    }))
}

/// The admin user list's filters (3.2 #3) from the query string.
pub fn user_query(params: &Params, page: Page) -> UserQuery {
    UserQuery {
        role: params.filter("role").map(str::to_string),
        active: params.filter("status").map(|s| s == "active"),
        verified: match params.filter("verificationStatus") {
            Some("verified") => Some(true),
            Some("pending" | "rejected") => Some(false),
            _ => None,
        },
        search: params.get("search").map(str::to_string),
        limit: page.limit,
        offset: page.offset(),
    }
}

/// 3.2 #3: the paginate-plugin shape `{docs, totalDocs, limit, page, totalPages, ...}`.
pub async fn list_users(state: &AppState, params: &Params) -> AppResult<Value> {
    let page = params.page(10)?;
    let (list, total) = users::list(&state.db, &user_query(params, page)).await?;
    let docs = people::clean_with_connections(state, &list, people::NAME_EMAIL_ROLE).await?;
    let pages = page.pages(total);
    Ok(json!({
        "docs": docs,
        "totalDocs": total,
        "limit": page.limit,
        "page": page.page,
        "totalPages": pages,
        "hasNextPage": page.page < pages,
        "hasPrevPage": page.page > 1,
        "nextPage": if page.page < pages { json!(page.page + 1) } else { Value::Null },
        "prevPage": if page.page > 1 { json!(page.page - 1) } else { Value::Null },
    }))
}

/// 3.2 #4: sets `isActive` (or flips it when no boolean is given). An admin cannot change
/// their own account. Returns the updated user.
pub async fn toggle_status(state: &AppState, admin: &User, user_id: &Id, requested: Option<bool>) -> AppResult<User> {
    let mut user = users::get(&state.db, user_id).await?.ok_or_else(|| AppError::not_found("User not found"))?;
    if user.id == admin.id {
        return Err(AppError::bad_request("Cannot deactivate your own account"));
    }
    let active = requested.unwrap_or(!user.is_active);
    users::set_active(&state.db, &mut user, active).await?;
    let mut tags = vec![Tag::Adm];
    if user.role == Role::Lawyer {
        tags.extend([Tag::Dir, Tag::DirLawyer(user.id.clone())]);
    }
    people::user_changed(state, &user.id, tags).await;
    if !active {
        state.notifier.disconnect_user(&user.id);
    }
    Ok(user)
}

/// 3.2 #5: lawyers not (yet) verified, newest first, with `total` beside the pagination
/// because the admin page reads `data.total`.
pub async fn pending_verifications(state: &AppState, params: &Params) -> AppResult<Value> {
    let page = params.page(10)?;
    let (lawyers, total) = users::unverified_lawyers(&state.db, page.limit, page.offset()).await?;
    Ok(json!({
        "lawyers": lawyers.iter().map(CleanUser::of).collect::<Vec<_>>(),
        "pagination": legacy_pagination(total, page),
        "total": total,
    }))
}

/// JavaScript truthiness, which decides whether the original took a body field at all.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(_) => true,
    }
}

/// An admin's verification decision, read from `{status}` or `{action}` plus `reason`/`notes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: VerificationStatus,
    pub notes: Option<String>,
}

const INVALID_STATUS: &str =
    "Invalid verification status. Use 'verified'/'rejected' for status or 'approve'/'reject' for action";

pub fn parse_decision(body: &Value) -> AppResult<Decision> {
    let raw = if truthy(body.get("status")) {
        body.get("status").and_then(Value::as_str)
    } else if truthy(body.get("action")) {
        body.get("action").and_then(Value::as_str).map(|a| match a {
            "approve" => "verified",
            "reject" => "rejected",
            other => other,
        })
    } else {
        None
    };
    let status = match raw {
        Some("verified") => VerificationStatus::Verified,
        Some("rejected") => VerificationStatus::Rejected,
        _ => return Err(AppError::bad_request(INVALID_STATUS)),
    };
    let given = [body.get("reason"), body.get("notes")].into_iter().find(|v| truthy(*v)).flatten();
    let notes = match given {
        None => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(AppError::bad_request("Verification notes must be text")),
    };
    Ok(Decision { status, notes })
}

/// 3.2 #6: records the decision (`isVerified` and `lawyerDetails.verificationStatus` move
/// together), emails the lawyer, and drops every cached view of them.
pub async fn decide_verification(state: &AppState, lawyer_id: &Id, decision: &Decision) -> AppResult<User> {
    let mut lawyer = users::get(&state.db, lawyer_id)
        .await?
        .filter(|u| u.role == Role::Lawyer)
        .ok_or_else(|| AppError::not_found("Lawyer not found"))?;
    if decision.notes.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::bad_request("Verification notes cannot be more than 500 characters"));
    }
    let verified = decision.status == VerificationStatus::Verified;
    lawyer.is_verified = verified;
    let details = lawyer.lawyer_details.get_or_insert_with(|| json!({}));
    details["verificationStatus"] = json!(decision.status.as_str());
    if let Some(notes) = &decision.notes {
        details["verificationNotes"] = json!(notes);
    }
    users::save_verification(&state.db, &mut lawyer).await?;
    people::user_changed(
        state,
        &lawyer.id,
        [Tag::Dir, Tag::DirLawyer(lawyer.id.clone()), Tag::Adm, Tag::Law(lawyer.id.clone())],
    )
    .await;
    let frontend = &state.config.frontend_url;
    let email = if verified {
        templates::lawyer_verified(&lawyer.email, &lawyer.name, decision.notes.as_deref(), frontend)
    } else {
        templates::lawyer_rejected(&lawyer.email, &lawyer.name, decision.notes.as_deref(), frontend)
    };
    crate::service::background::send_email(state, email).await;
    Ok(lawyer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_accept_status_or_action() {
        let d = parse_decision(&json!({"action": "approve", "reason": "  ok  "})).unwrap();
        assert_eq!(d, Decision { status: VerificationStatus::Verified, notes: Some("ok".into()) });
        let d = parse_decision(&json!({"status": "rejected", "notes": "missing bar id"})).unwrap();
        assert_eq!(d.status, VerificationStatus::Rejected);
        assert_eq!(
            parse_decision(&json!({"status": "", "action": "reject"})).unwrap().status,
            VerificationStatus::Rejected
        );
        assert!(parse_decision(&json!({"status": "approve"})).is_err());
        assert!(parse_decision(&json!({})).is_err());
        assert!(parse_decision(&json!({"action": "maybe"})).is_err());
    }

    #[test]
    fn resolution_stats_are_zero_without_data() {
        assert_eq!(resolution_stats(&[])["averageResolutionTime"], 0);
        let s = resolution_stats(&[
            ("2024-01-01T00:00:00.000Z".into(), "2024-01-03T00:00:00.000Z".into()),
            ("2024-01-01T00:00:00.000Z".into(), "2024-01-05T00:00:00.000Z".into()),
        ]);
        assert_eq!(s["averageResolutionTime"], 3.0);
        assert_eq!(s["minResolutionTime"], 2.0);
        assert_eq!(s["maxResolutionTime"], 4.0);
        assert!(s["_id"].is_null());
    }
}
