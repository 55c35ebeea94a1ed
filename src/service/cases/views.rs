//! Response shapes of cases: a case as the original's documents look (populated per route),
//! request entries, the summaries of request lists and the `chatRoom` of my-cases items.

use super::*;

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
pub(super) fn request_json(r: &CaseRequest, lawyer: Value) -> Value {
    let mut out = Map::new();
    out.insert("_id".into(), json!(r.id));
    out.insert("lawyerId".into(), lawyer);
    out.insert("status".into(), json!(r.status));
    out.insert("requestedAt".into(), json!(r.requested_at));
    if let Some(at) = &r.responded_at {
        out.insert("respondedAt".into(), json!(at));
    }
    if let Some(message) = &r.message {
        out.insert("message".into(), json!(message));
    }
    if let Some(fee) = r.proposed_fee {
        out.insert("proposedFee".into(), json!(fee));
    }
    if let Some(duration) = &r.estimated_duration {
        out.insert("estimatedDuration".into(), json!(duration));
    }
    Value::Object(out)
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
        return json!([]);
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

/// A case as the original's documents look (`_id`, camelCase, `__v`), populated per `pop`.
pub(super) fn case_json(case: &Case, requests: &[&CaseRequest], users: &Users, pop: Populate) -> Value {
    let mut o = Map::new();
    let dispute = case.case_type == CaseType::Dispute;
    o.insert("_id".into(), json!(case.id));
    o.insert("title".into(), json!(case.title));
    o.insert("description".into(), json!(case.description));
    if dispute {
        o.insert("disputeType".into(), json!(case.dispute_type));
    }
    o.insert("category".into(), json!(case.category));
    o.insert("status".into(), json!(case.status));
    o.insert("priority".into(), json!(case.priority));
    o.insert("citizen".into(), user_ref(users, &case.citizen_id, pop.citizen));
    let assigned = case.assigned_lawyer_id.as_ref().map(|id| user_ref(users, id, pop.assigned)).unwrap_or(Value::Null);
    o.insert("assignedLawyer".into(), assigned);
    for (key, direction, fields) in [
        ("lawyerRequests", Direction::Lawyer, pop.lawyer_requests),
        ("citizenRequests", Direction::Citizen, pop.citizen_requests),
    ] {
        let entries: Vec<Value> = requests
            .iter()
            .filter(|r| r.direction == direction)
            .map(|r| request_json(r, user_ref(users, &r.lawyer_id, fields)))
            .collect();
        o.insert(key.into(), Value::Array(entries));
    }
    if dispute {
        for key in ["opposingParty", "disputeValue"] {
            if let Some(v) = case.details.get(key).filter(|v| !v.is_null()) {
                o.insert(key.into(), v.clone());
            }
        }
        o.insert("hearingDates".into(), case.details.get("hearingDates").cloned().unwrap_or_else(|| json!([])));
    }
    o.insert("documents".into(), case.documents.clone());
    if pop.people {
        o.insert("notes".into(), populate_people(&case.notes, "author", users));
        o.insert("timeline".into(), populate_people(&case.timeline, "performedBy", users));
    } else {
        o.insert("notes".into(), case.notes.clone());
        o.insert("timeline".into(), case.timeline.clone());
    }
    if !case.resolution.is_null() {
        o.insert("resolution".into(), case.resolution.clone());
    }
    o.insert("createdAt".into(), json!(case.created_at));
    o.insert("updatedAt".into(), json!(case.updated_at));
    o.insert("__v".into(), json!(0));
    Value::Object(o)
}

/// `chatRoom` of my-cases items: the reader's case chat.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatRoomView<'a> {
    pub chat_id: &'a str,
    pub status: &'a str,
    /// null before the first message.
    pub last_message: Option<LastMessageView<'a>>,
    pub unread_count: i64,
}

/// The newest message of a case chat.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LastMessageView<'a> {
    pub content: Option<&'a str>,
    pub timestamp: &'a str,
    #[schema(value_type = Option<String>)]
    pub sender: Option<&'a Id>,
}

/// `chatRoom` of a my-cases item (null without a chat).
pub(super) fn chat_room_json(room: Option<&ChatRoom>) -> Value {
    let Some(room) = room else { return Value::Null };
    to_json(&ChatRoomView {
        chat_id: &room.chat_id,
        status: &room.status,
        last_message: room.last_message.as_ref().map(|(content, at, sender)| LastMessageView {
            content: content.as_deref(),
            timestamp: at,
            sender: sender.as_ref(),
        }),
        unread_count: room.unread_count,
    })
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

    pub(super) fn json(&self, case: &Case, pop: Populate) -> Value {
        case_json(case, &self.requests_of(case), &self.users, pop)
    }
}

/// The summary item of 3.3 #17/#18 and 3.4 #11/#12; `party` is the citizen or the lawyer.
pub(super) fn request_summary(r: &CaseRequest, case: &Case, party_key: &str, party: Value) -> Value {
    let mut o = Map::new();
    o.insert("requestId".into(), json!(r.id));
    o.insert("caseId".into(), json!(case.id));
    o.insert("caseType".into(), json!(case.case_type.as_str()));
    o.insert("caseTitle".into(), json!(case.title));
    o.insert("description".into(), json!(case.description));
    o.insert("category".into(), json!(case.category));
    o.insert("priority".into(), json!(case.priority));
    if case.case_type == CaseType::Dispute
        && let Some(v) = case.details.get("disputeValue").filter(|v| !v.is_null())
    {
        o.insert("disputeValue".into(), v.clone());
    }
    o.insert(party_key.into(), party);
    o.insert("status".into(), json!(r.status));
    o.insert("message".into(), json!(r.message));
    o.insert("requestedAt".into(), json!(r.requested_at));
    if let Some(at) = &r.responded_at {
        o.insert("respondedAt".into(), json!(at));
    }
    Value::Object(o)
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
    pub timestamp: &'a str,
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
            timestamp: &case.created_at,
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
    use crate::domain::case::{Category, Priority};

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
}
