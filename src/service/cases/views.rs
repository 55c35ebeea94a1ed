//! Response shapes of cases: a case as the original's documents look (populated per route),
//! request entries, the items of the case and request lists, the `chatRoom` of my-cases items
//! and the dashboards. Users inside a view are populated by [`crate::service::people`] with the
//! fields each route asks for (the shape varies by route), so they stay JSON values here; so do
//! the lists a case keeps as JSON (notes, timeline, documents, dispute details, resolution):
//! cases imported from the original keep the keys and key order of the dump there.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::case::{CaseStatus, CaseType, Category, Direction, DisputeType, Priority, RequestStatus};
use crate::domain::chat::ChatStatus;
use crate::domain::page::LegacyPagination;
use crate::error::AppResult;
use crate::ids::Id;
use crate::service::people::{NAME_ROLE, Users, load_users, user_ref};
use crate::state::AppState;
use crate::store::cases::{self as store, Case, CaseRequest, ChatRoom};
use crate::store::users::User;
use crate::time::Timestamp;

/// `fields=` allow-lists (docs/api.md 3.3 #4, 3.5 #6, 3.6).
pub(super) const QUERY_LIST_FIELDS: &[&str] =
    &["title", "description", "category", "priority", "status", "createdAt", "citizen", "assignedLawyer"];

pub(super) const DISPUTE_LIST_FIELDS: &[&str] = &[
    "title",
    "description",
    "category",
    "priority",
    "status",
    "disputeValue",
    "createdAt",
    "citizen",
    "assignedLawyer",
    "opposingParty",
];

pub(super) const AVAILABLE_FIELDS: &[&str] =
    &["title", "description", "category", "priority", "status", "createdAt", "caseType", "hasLawyerRequested"];

/// One request entry (`lawyerRequests` / `citizenRequests` item).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestView<'a> {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: &'a Id,
    /// The lawyer's id, or the lawyer populated with the fields of the route (null once deleted).
    #[schema(value_type = Object)]
    pub lawyer_id: Value,
    pub status: RequestStatus,
    pub requested_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed_fee: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_duration: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    pub(super) fn new(r: &'a CaseRequest, lawyer: Value) -> RequestView<'a> {
        RequestView {
            id: &r.id,
            lawyer_id: lawyer,
            status: r.status,
            requested_at: r.requested_at,
            responded_at: r.responded_at,
            message: r.message.as_deref(),
            proposed_fee: r.proposed_fee,
            estimated_duration: r.estimated_duration.as_deref(),
        }
    }
}

/// Which references of a case are populated, and with which fields.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Populate {
    pub(super) citizen: Option<&'static [&'static str]>,
    pub(super) assigned: Option<&'static [&'static str]>,
    pub(super) lawyer_requests: Option<&'static [&'static str]>,
    pub(super) citizen_requests: Option<&'static [&'static str]>,
    /// `timeline.performedBy` and `notes.author` (name role).
    pub(super) people: bool,
}

/// Replaces `key` (a user id) of every item with the user's name and role.
pub(super) fn populate_people(items: &Value, key: &str, users: &Users) -> Value {
    let Some(items) = items.as_array() else {
        return Value::Array(Vec::new());
    };
    Value::Array(
        items
            .iter()
            .map(|item| {
                let mut item = item.clone();
                let id = item.get(key).and_then(Value::as_str).and_then(|s| s.parse::<Id>().ok());
                if let Some(id) = id {
                    item[key] = user_ref(users, &id, Some(NAME_ROLE));
                }
                item
            })
            .collect(),
    )
}

/// User ids an item list refers to under `key`.
pub(super) fn ids_under<'a>(items: &'a Value, key: &'a str) -> impl Iterator<Item = Id> + 'a {
    items.as_array().into_iter().flatten().filter_map(move |i| i.get(key)?.as_str()?.parse().ok())
}

/// `hearingDates` of a dispute whose details have none.
static NO_HEARING_DATES: Value = Value::Array(Vec::new());

/// A case as the original's documents look (`_id`, camelCase, `__v`), populated per route.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseView<'a> {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: &'a Id,
    pub title: &'a str,
    pub description: &'a str,
    /// Disputes only (null when a dispute has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispute_type: Option<Option<DisputeType>>,
    pub category: Category,
    pub status: CaseStatus,
    pub priority: Priority,
    /// The citizen's id, or the citizen populated with the fields of the route.
    #[schema(value_type = Object)]
    pub citizen: Value,
    /// Null, the lawyer's id, or the lawyer populated with the fields of the route.
    #[schema(value_type = Option<Object>)]
    pub assigned_lawyer: Value,
    pub lawyer_requests: Vec<RequestView<'a>>,
    pub citizen_requests: Vec<RequestView<'a>>,
    /// Disputes only, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub opposing_party: Option<&'a Value>,
    /// Disputes only, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub dispute_value: Option<&'a Value>,
    /// Disputes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub hearing_dates: Option<&'a Value>,
    #[schema(value_type = Vec<Object>)]
    pub documents: &'a Value,
    /// `author` populated (name, role) where the route shows people.
    #[schema(value_type = Vec<Object>)]
    pub notes: Cow<'a, Value>,
    /// `performedBy` populated (name, role) where the route shows people.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Cow<'a, Value>,
    /// Once resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub resolution: Option<&'a Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Always 0: the original's version key.
    #[serde(rename = "__v")]
    pub version: u8,
}

impl<'a> CaseView<'a> {
    /// `case` with its entries, populated per `pop`.
    pub(super) fn new(case: &'a Case, requests: &[&'a CaseRequest], users: &Users, pop: Populate) -> CaseView<'a> {
        let dispute = case.case_type == CaseType::Dispute;
        let entries = |direction: Direction, fields: Option<&[&str]>| -> Vec<RequestView<'a>> {
            requests
                .iter()
                .filter(|r| r.direction == direction)
                .map(|r| RequestView::new(r, user_ref(users, &r.lawyer_id, fields)))
                .collect()
        };
        let detail = |key: &str| case.details.get(key).filter(|v| dispute && !v.is_null());
        let people = |items: &'a Value, key: &str| match pop.people {
            true => Cow::Owned(populate_people(items, key, users)),
            false => Cow::Borrowed(items),
        };
        CaseView {
            id: &case.id,
            title: &case.title,
            description: &case.description,
            dispute_type: dispute.then_some(case.dispute_type),
            category: case.category,
            status: case.status,
            priority: case.priority,
            citizen: user_ref(users, &case.citizen_id, pop.citizen),
            assigned_lawyer: case
                .assigned_lawyer_id
                .as_ref()
                .map_or(Value::Null, |id| user_ref(users, id, pop.assigned)),
            lawyer_requests: entries(Direction::Lawyer, pop.lawyer_requests),
            citizen_requests: entries(Direction::Citizen, pop.citizen_requests),
            opposing_party: detail("opposingParty"),
            dispute_value: detail("disputeValue"),
            hearing_dates: dispute.then(|| case.details.get("hearingDates").unwrap_or(&NO_HEARING_DATES)),
            documents: &case.documents,
            notes: people(&case.notes, "author"),
            timeline: people(&case.timeline, "performedBy"),
            resolution: Some(&case.resolution).filter(|r| !r.is_null()),
            created_at: case.created_at,
            updated_at: case.updated_at,
            version: 0,
        }
    }
}

/// `data` of one case: `{query}` or `{dispute}`.
#[derive(Debug, Serialize, ToSchema)]
pub enum CaseData<'a> {
    #[serde(rename = "query")]
    Query(CaseView<'a>),
    #[serde(rename = "dispute")]
    Dispute(CaseView<'a>),
}

impl<'a> CaseData<'a> {
    pub(super) fn new(case_type: CaseType, view: CaseView<'a>) -> CaseData<'a> {
        match case_type {
            CaseType::Query => CaseData::Query(view),
            CaseType::Dispute => CaseData::Dispute(view),
        }
    }
}

/// `chatRoom` of my-cases items: the reader's case chat.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRoomView<'a> {
    pub chat_id: &'a str,
    pub status: ChatStatus,
    /// null before the first message.
    pub last_message: Option<LastMessageView<'a>>,
    pub unread_count: i64,
}

/// The newest message of a case chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastMessageView<'a> {
    pub content: Option<&'a str>,
    pub timestamp: Timestamp,
    #[schema(value_type = Option<String>)]
    pub sender: Option<&'a Id>,
}

impl<'a> ChatRoomView<'a> {
    pub(super) fn new(room: &'a ChatRoom) -> ChatRoomView<'a> {
        ChatRoomView {
            chat_id: &room.chat_id,
            status: room.status,
            last_message: room.last_message.as_ref().map(|m| LastMessageView {
                content: m.content.as_deref(),
                timestamp: m.at,
                sender: m.sender.as_ref(),
            }),
            unread_count: room.unread_count,
        }
    }
}

/// An item of the open cases (3.3 #4): the case after `fields=`, its type and whether this
/// lawyer already has an entry on it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableCase {
    /// The case's fields that `fields=` kept (a JSON object: the selection is per request).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub case: Value,
    pub case_type: CaseType,
    pub has_lawyer_requested: bool,
}

/// `data` of the open cases and of my-cases: `{cases, pagination: {current, pages, total}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CasePage<T> {
    pub cases: Vec<T>,
    pub pagination: LegacyPagination,
}

/// An item of my-cases (3.3 #5, 3.4 #5): the case with its type and the reader's case chat;
/// citizens also get their entries under the names the frontend reads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyCase<'a> {
    #[serde(flatten)]
    pub case: &'a CaseView<'a>,
    pub case_type: CaseType,
    /// null without a chat (for citizens, until a lawyer is assigned).
    pub chat_room: Option<ChatRoomView<'a>>,
    /// Citizens: `citizenRequests` again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_lawyers: Option<&'a [RequestView<'a>]>,
    /// Citizens: `lawyerRequests` again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_offers: Option<&'a [RequestView<'a>]>,
}

/// A page of cases with their entries and every user they refer to.
pub(super) struct Hydrated {
    pub(super) cases: Vec<Case>,
    pub(super) requests: HashMap<Id, Vec<CaseRequest>>,
    pub(super) users: Users,
}

impl Hydrated {
    pub(super) async fn load(state: &AppState, cases: Vec<Case>) -> AppResult<Hydrated> {
        let db = &state.db;
        let ids: Vec<Id> = cases.iter().map(|c| c.id.clone()).collect();
        let mut requests: HashMap<Id, Vec<CaseRequest>> = HashMap::new();
        for r in store::requests_of(db, &ids).await? {
            requests.entry(r.case_id.clone()).or_default().push(r);
        }
        let mut people: Vec<Id> = Vec::new();
        for c in &cases {
            people.push(c.citizen_id.clone());
            people.extend(c.assigned_lawyer_id.clone());
            people.extend(ids_under(&c.timeline, "performedBy"));
            people.extend(ids_under(&c.notes, "author"));
        }
        people.extend(requests.values().flatten().map(|r| r.lawyer_id.clone()));
        let users = load_users(state, people).await?;
        Ok(Hydrated { cases, requests, users })
    }

    pub(super) fn requests_of(&self, case: &Case) -> Vec<&CaseRequest> {
        self.requests.get(&case.id).map(|v| v.iter().collect()).unwrap_or_default()
    }

    pub(super) fn view<'a>(&'a self, case: &'a Case, pop: Populate) -> CaseView<'a> {
        CaseView::new(case, &self.requests_of(case), &self.users, pop)
    }
}

/// A lawyer in the citizen's request lists: `{_id, name, email, specialization, experience}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LawyerSummary<'a> {
    #[serde(rename = "_id")]
    #[schema(value_type = String)]
    pub id: &'a Id,
    pub name: &'a str,
    pub email: &'a str,
    pub specialization: Vec<String>,
    /// As the lawyer's details hold it (null when absent).
    #[schema(value_type = Option<i64>)]
    pub experience: Value,
}

impl<'a> LawyerSummary<'a> {
    pub(super) fn new(u: &'a User) -> LawyerSummary<'a> {
        let experience = u.lawyer_details.as_ref().and_then(|d| d.get("experience")).cloned();
        LawyerSummary {
            id: &u.id,
            name: &u.name,
            email: &u.email,
            specialization: u.specializations(),
            experience: experience.unwrap_or(Value::Null),
        }
    }
}

/// The summary item of 3.3 #17/#18 (with the citizen) and 3.4 #11/#12 (with the lawyer).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestSummary<'a> {
    #[schema(value_type = String)]
    pub request_id: &'a Id,
    #[schema(value_type = String)]
    pub case_id: &'a Id,
    pub case_type: CaseType,
    pub case_title: &'a str,
    pub description: &'a str,
    pub category: Category,
    pub priority: Priority,
    /// Disputes with a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub dispute_value: Option<&'a Value>,
    /// Lawyers' lists: the citizen (name, email).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub citizen: Option<Value>,
    /// Citizens' lists: the lawyer, null once deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lawyer: Option<Option<LawyerSummary<'a>>>,
    pub status: RequestStatus,
    pub message: Option<&'a str>,
    pub requested_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<Timestamp>,
}

impl<'a> RequestSummary<'a> {
    /// The summary of `r` on `case`, without its party.
    pub(super) fn new(r: &'a CaseRequest, case: &'a Case) -> RequestSummary<'a> {
        RequestSummary {
            request_id: &r.id,
            case_id: &case.id,
            case_type: case.case_type,
            case_title: &case.title,
            description: &case.description,
            category: case.category,
            priority: case.priority,
            dispute_value: case
                .details
                .get("disputeValue")
                .filter(|v| case.case_type == CaseType::Dispute && !v.is_null()),
            citizen: None,
            lawyer: None,
            status: r.status,
            message: r.message.as_deref(),
            requested_at: r.requested_at,
            responded_at: r.responded_at,
        }
    }
}

/// An entry with its case (3.4 #9, #10).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryOfCase<'a> {
    #[serde(flatten)]
    pub entry: RequestView<'a>,
    pub case_type: CaseType,
    #[schema(value_type = String)]
    pub case_id: &'a Id,
    pub case_title: &'a str,
    pub case_created_at: Timestamp,
}

/// An item of a request list, by list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RequestItem<'a> {
    Summary(RequestSummary<'a>),
    OfCase(EntryOfCase<'a>),
}

/// `data` of a request list: `{requests | offers, pagination: {current, pages, total}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<RequestItem<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<RequestItem<'a>>>,
    pub pagination: LegacyPagination,
}

/// `data` of an accepted or rejected entry (3.3 #19, #20; 3.4 #13, #14).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnsweredEntry<'a> {
    /// The entry, its lawyer as an id.
    pub request: Option<RequestView<'a>>,
    /// Once accepted: the case chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<AnsweredChat<'a>>,
}

/// The case chat of an accepted entry: `{chatId, caseType}` for lawyers, `{chatId, _id}` for
/// citizens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredChat<'a> {
    pub chat_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_type: Option<CaseType>,
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub id: Option<&'a Id>,
}

/// `data` of request-lawyer (3.4 #7, #8).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LawyerRequested<'a> {
    #[schema(value_type = String)]
    pub request_id: &'a Id,
    /// `{_id, name, specialization}`.
    #[schema(value_type = Object)]
    pub lawyer: Value,
}

/// A view as the JSON it serializes to. View structs have string keys and plain values, so
/// serializing them cannot fail.
pub(super) fn to_json<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).expect("a view struct serializes to JSON")
}

/// `data` of the lawyer dashboard (docs/api.md 3.3 #3).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LawyerDashboard {
    pub total_clients: usize,
    pub active_queries: i64,
    pub active_disputes: i64,
    pub total_cases: i64,
    pub resolved_cases: i64,
    pub active_cases: i64,
}

/// The citizen's quick stats, payload of `dashboard_stats_updated` / `quick_stats_updated`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CitizenQuickStats {
    pub total_cases: i64,
    /// Total minus resolved.
    pub active_cases: i64,
    pub resolved_cases: i64,
    pub connected_lawyers: i64,
    pub pending_requests: i64,
}

/// `data` of the citizen dashboard (docs/api.md 3.4 #1).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CitizenDashboard {
    pub total_queries: i64,
    pub active_queries: i64,
    pub resolved_queries: i64,
    pub total_disputes: i64,
    pub active_disputes: i64,
    pub resolved_disputes: i64,
    pub total_cases: i64,
    pub active_cases: i64,
    pub resolved_cases: i64,
    pub connected_lawyers: i64,
    pub pending_requests: i64,
    pub received_offers: i64,
}

/// One item of the citizen's activity feed (a case or a direct connection), also the payload of
/// `new_activity`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem<'a> {
    #[schema(value_type = String)]
    pub id: &'a Id,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub status: &'a str,
    pub timestamp: Timestamp,
    /// The lawyer (brief) or null; absent from `new_activity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub assigned_lawyer: Option<Value>,
    pub category: &'a str,
    pub priority: &'a str,
    /// Disputes only (null when a dispute has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispute_type: Option<Option<DisputeType>>,
}

impl<'a> ActivityItem<'a> {
    /// A case as an activity item.
    pub(super) fn case(case: &'a Case, description: &'a str, assigned_lawyer: Option<Value>) -> ActivityItem<'a> {
        ActivityItem {
            id: &case.id,
            kind: case.case_type.as_str(),
            title: &case.title,
            description,
            status: case.status.as_str(),
            timestamp: case.created_at,
            assigned_lawyer,
            category: case.category.as_str(),
            priority: case.priority.as_str(),
            dispute_type: (case.case_type == CaseType::Dispute).then_some(case.dispute_type),
        }
    }
}

/// `data` of the citizen's recent activity (docs/api.md 3.4 #2).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActivityFeed<'a> {
    pub activities: Vec<ActivityItem<'a>>,
    /// Items before truncation to 5.
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn activity_items_keep_the_keys_and_order_of_the_api() {
        let case = Case::new(
            CaseType::Dispute,
            "Title".into(),
            "Description".into(),
            Category::Civil,
            Some(DisputeType::LandlordTenant),
            Priority::High,
            Id::new(),
            json!({}),
        );
        let item = to_json(&ActivityItem::case(&case, "Legal dispute filed", Some(Value::Null)));
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        let expected = [
            "id",
            "type",
            "title",
            "description",
            "status",
            "timestamp",
            "assignedLawyer",
            "category",
            "priority",
            "disputeType",
        ];
        assert_eq!(keys, expected);
        assert_eq!(item["disputeType"], "landlord-tenant");
        assert_eq!(item["status"], "pending");
        let feed = to_json(&ActivityItem::case(&case, "x", None));
        assert!(feed.get("assignedLawyer").is_none(), "new_activity has no assignedLawyer");
    }

    #[test]
    fn case_views_keep_the_keys_and_order_of_the_documents() {
        let details = json!({"opposingParty": {"name": "X"}, "disputeValue": 5000.0});
        let citizen = Id::new();
        let mut case = Case::new(
            CaseType::Dispute,
            "Title".into(),
            "Description".into(),
            Category::Civil,
            None,
            Priority::High,
            citizen.clone(),
            details,
        );
        case.resolution = json!({"resolvedBy": citizen});
        let view = to_json(&CaseView::new(&case, &[], &Users::default(), Populate::default()));
        let keys: Vec<&str> = view.as_object().unwrap().keys().map(String::as_str).collect();
        let expected = [
            "_id",
            "title",
            "description",
            "disputeType",
            "category",
            "status",
            "priority",
            "citizen",
            "assignedLawyer",
            "lawyerRequests",
            "citizenRequests",
            "opposingParty",
            "disputeValue",
            "hearingDates",
            "documents",
            "notes",
            "timeline",
            "resolution",
            "createdAt",
            "updatedAt",
            "__v",
        ];
        assert_eq!(keys, expected);
        assert_eq!(view["disputeType"], Value::Null);
        assert_eq!(view["hearingDates"], json!([]));
        assert_eq!(view["citizen"], json!(citizen));
        let query = Case { case_type: CaseType::Query, resolution: Value::Null, ..case };
        let view = to_json(&CaseData::new(
            CaseType::Query,
            CaseView::new(&query, &[], &Users::default(), Populate::default()),
        ));
        let keys: Vec<&str> = view["query"].as_object().unwrap().keys().map(String::as_str).collect();
        let dispute_only = ["disputeType", "opposingParty", "disputeValue", "hearingDates", "resolution"];
        assert_eq!(keys, expected.iter().copied().filter(|k| !dispute_only.contains(k)).collect::<Vec<_>>());
    }
}
