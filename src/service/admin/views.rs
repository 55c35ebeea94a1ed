//! The admin replies (docs/api.md 3.2) as view structs, in the original's key order.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::page::LegacyPagination;
use crate::ids::Id;
use crate::service::accounts::views::CleanUser;
use crate::store::reports::{CaseSummary, Party, TopLawyer};
use crate::time::Timestamp;

/// 3.2 #1: `{counts, recentActivities, monthlyStats, revenue}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    pub counts: Counts,
    pub recent_activities: RecentActivities,
    pub monthly_stats: Vec<MonthStats>,
    pub revenue: Revenue,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total_citizens: i64,
    pub total_lawyers: i64,
    pub total_queries: i64,
    pub total_disputes: i64,
    pub completed_queries: i64,
    pub completed_disputes: i64,
    pub pending_lawyer_verifications: i64,
}

/// The five newest queries and disputes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentActivities {
    pub queries: Vec<RecentCase>,
    pub disputes: Vec<RecentCase>,
}

/// Cases created in one calendar month of this year.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthStats {
    pub month: &'static str,
    pub queries: i64,
    pub disputes: i64,
}

/// The original's fixed figures until payments exist.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revenue {
    pub total_revenue: i64,
    pub monthly_revenue: i64,
    pub growth_rate: f64,
    pub average_consultation_fee: i64,
}

impl Revenue {
    pub const PLACEHOLDER: Revenue =
        Revenue { total_revenue: 125000, monthly_revenue: 15000, growth_rate: 12.5, average_consultation_fee: 1500 };
}

/// A user in place of a reference: `{_id, name, email}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartyView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub name: String,
    pub email: String,
}

impl PartyView {
    fn of(p: &Party) -> PartyView {
        PartyView { id: p.id.clone(), name: p.name.clone(), email: p.email.clone() }
    }
}

/// A Query or Dispute document (2.3, 2.4) with its citizen and lawyer populated (name, email):
/// disputes name their category `disputeType` and carry their own fields from `details`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentCase {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispute_type: Option<String>,
    pub status: String,
    pub priority: String,
    pub citizen: Option<PartyView>,
    pub assigned_lawyer: Option<PartyView>,
    /// A dispute's own fields (`opposingParty`, `disputeValue`, `hearingDates`), free-form
    /// as stored; keys that the document names itself are left out.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub dispute_details: serde_json::Map<String, Value>,
    #[schema(value_type = Vec<Object>)]
    pub documents: Value,
    #[schema(value_type = Vec<Object>)]
    pub notes: Value,
    #[schema(value_type = Vec<Object>)]
    pub timeline: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    #[schema(value_type = Option<Object>)]
    pub resolution: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(rename = "__v")]
    pub version: u8,
}

/// The keys of [`RecentCase`] on the wire, which a dispute's details never override.
const CASE_KEYS: &[&str] = &[
    "_id",
    "title",
    "description",
    "category",
    "disputeType",
    "status",
    "priority",
    "citizen",
    "assignedLawyer",
    "documents",
    "notes",
    "timeline",
    "resolution",
    "createdAt",
    "updatedAt",
    "__v",
];

impl RecentCase {
    pub fn of(c: &CaseSummary) -> RecentCase {
        let dispute = c.case_type == "dispute";
        let dispute_details = match c.details.as_object() {
            Some(details) if dispute => details
                .iter()
                .filter(|(k, _)| !CASE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => serde_json::Map::new(),
        };
        RecentCase {
            id: c.id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            category: (!dispute).then(|| c.category.clone()),
            dispute_type: dispute.then(|| c.category.clone()),
            status: c.status.clone(),
            priority: c.priority.clone(),
            citizen: c.citizen.as_ref().map(PartyView::of),
            assigned_lawyer: c.lawyer.as_ref().map(PartyView::of),
            dispute_details,
            documents: c.documents.clone(),
            notes: c.notes.clone(),
            timeline: c.timeline.clone(),
            resolution: c.resolution.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: 0,
        }
    }
}

/// 3.2 #2: `{userStats, queryStats, disputeStats, topLawyers, resolutionStats}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemStats {
    pub user_stats: Vec<CountOf>,
    pub query_stats: Vec<CountOf>,
    pub dispute_stats: Vec<CountOf>,
    pub top_lawyers: Vec<TopLawyerView>,
    pub resolution_stats: ResolutionStats,
}

/// A group of an aggregation: `{_id: <role or status>, count}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountOf {
    #[serde(rename = "_id")]
    pub id: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopLawyerView {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: Id,
    pub resolved_cases: i64,
    pub lawyer_name: String,
    pub lawyer_email: String,
}

impl TopLawyerView {
    pub fn of(t: &TopLawyer) -> TopLawyerView {
        TopLawyerView {
            id: t.lawyer.id.clone(),
            resolved_cases: t.resolved,
            lawyer_name: t.lawyer.name.clone(),
            lawyer_email: t.lawyer.email.clone(),
        }
    }
}

/// Days from creation to resolution of resolved queries: the aggregation's group
/// (`_id: null`, fractional days), or whole zeros without `_id` when nothing was resolved.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ResolutionStats {
    Resolved(ResolutionDays),
    None(NoResolutions),
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionDays {
    /// Always null (the aggregation's single group).
    #[serde(rename = "_id")]
    #[schema(value_type = Option<String>)]
    pub id: (),
    pub average_resolution_time: f64,
    pub min_resolution_time: f64,
    pub max_resolution_time: f64,
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoResolutions {
    pub average_resolution_time: u8,
    pub min_resolution_time: u8,
    pub max_resolution_time: u8,
}

/// 3.2 #3: the paginate plugin's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    /// Clean users with their legacy `connections[].userId` populated (name, email, role).
    #[schema(value_type = Vec<Object>)]
    pub docs: Vec<Value>,
    pub total_docs: i64,
    pub limit: i64,
    pub page: i64,
    pub total_pages: i64,
    pub has_next_page: bool,
    pub has_prev_page: bool,
    pub next_page: Option<i64>,
    pub prev_page: Option<i64>,
}

/// 3.2 #5: `{lawyers, pagination, total}` (`total` beside the pagination: the admin page reads it).
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingLawyers<'a> {
    #[schema(value_type = Vec<Object>)]
    pub lawyers: Vec<CleanUser<'a>>,
    pub pagination: LegacyPagination,
    pub total: i64,
}
