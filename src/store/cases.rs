//! Cases (docs/api.md 2.3, 2.4): queries and disputes share the `cases` table (`case_type`), and
//! their request entries share `case_requests` (direction `lawyer` = `lawyerRequests`,
//! `citizen` = `citizenRequests`). A case and its entries are one aggregate
//! ([`CaseRecord`]): it is loaded whole, changed in memory and written back by [`save`],
//! which only succeeds if nobody else wrote the case in between (the `version` column).
//!
//! Also here: the read-only counts the citizen dashboard needs from `direct_connections`, and
//! the `chatRoom` of each case in my-cases lists (the chat itself is the chats store's).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, Param, RowExt, Sql, Tx, like_pattern};
use crate::ids::Id;
use crate::time::Timestamp;

use crate::domain::case::{CaseParties, CaseStatus, Category, DisputeType, Priority, RequestStatus, TimelineAction};
pub use crate::domain::case::{CaseType, Direction};
use crate::domain::chat::ChatStatus;
use crate::domain::connection::ConnectionStatus;

/// A closed-set column of a row, parsed; a value outside the set is a decode error.
fn parse_col<T: std::str::FromStr<Err = crate::domain::string_enum::UnknownValue>>(raw: String) -> sqlx::Result<T> {
    Ok(raw.parse()?)
}

/// One entry of `lawyerRequests` or `citizenRequests`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRequest {
    pub id: Id,
    pub case_id: Id,
    pub direction: Direction,
    pub lawyer_id: Id,
    /// Who created the entry (a lawyer offering, or the citizen inviting): only the other
    /// party may accept it.
    pub requested_by: Option<Id>,
    pub status: RequestStatus,
    pub message: Option<String>,
    pub proposed_fee: Option<f64>,
    pub estimated_duration: Option<String>,
    pub requested_at: Timestamp,
    pub responded_at: Option<Timestamp>,
}

impl CaseRequest {
    pub fn is_pending(&self) -> bool {
        self.status == RequestStatus::Pending
    }

    /// Answers the entry (`accepted` / `rejected`) now.
    pub fn respond(&mut self, status: RequestStatus, now: Timestamp) {
        self.status = status;
        self.responded_at = Some(now);
    }

    fn from_row(row: &AnyRow) -> sqlx::Result<CaseRequest> {
        Ok(CaseRequest {
            id: row.id("id")?,
            case_id: row.id("case_id")?,
            // Anything but `citizen` is a lawyerRequests entry, as the original's lists read them.
            direction: row.text("direction")?.parse().unwrap_or(Direction::Lawyer),
            lawyer_id: row.id("lawyer_id")?,
            requested_by: row.id_opt("requested_by")?,
            status: parse_col(row.text("status")?)?,
            message: row.text_opt("message")?,
            proposed_fee: row.float_opt("proposed_fee")?,
            estimated_duration: row.text_opt("estimated_duration")?,
            requested_at: row.timestamp("requested_at")?,
            responded_at: row.timestamp_opt("responded_at")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: Id,
    pub case_type: CaseType,
    pub title: String,
    pub description: String,
    pub category: Category,
    /// Disputes only.
    pub dispute_type: Option<DisputeType>,
    pub status: CaseStatus,
    pub priority: Priority,
    pub citizen_id: Id,
    pub assigned_lawyer_id: Option<Id>,
    /// Dispute-only fields: `{opposingParty?, disputeValue?, hearingDates}`.
    pub details: Value,
    /// `[{_id, author, content, createdAt, isPrivate?}]`
    pub notes: Value,
    /// `[{_id, action, description, performedBy?, timestamp}]`
    pub timeline: Value,
    pub documents: Value,
    /// null until set.
    pub resolution: Value,
    /// Text, not a [`Timestamp`]: imported cases carry the dump's `resolution.resolvedAt` as
    /// it was written there, which need not be RFC 3339.
    pub resolved_at: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

const CASE_COLUMNS: &[&str] = &[
    "id",
    "case_type",
    "title",
    "description",
    "category",
    "dispute_type",
    "status",
    "priority",
    "citizen_id",
    "assigned_lawyer_id",
    "details",
    "notes",
    "timeline",
    "documents",
    "resolution",
    "resolved_at",
    "created_at",
    "updated_at",
    "version",
];

const REQUEST_COLUMNS: &[&str] = &[
    "id",
    "case_id",
    "direction",
    "lawyer_id",
    "requested_by",
    "status",
    "message",
    "proposed_fee",
    "estimated_duration",
    "requested_at",
    "responded_at",
];

/// `a.x, a.y, ...` for a column list.
fn columns(alias: &str, cols: &[&str]) -> String {
    cols.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

impl Case {
    /// A new pending case with the defaults of the model.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        case_type: CaseType,
        title: String,
        description: String,
        category: Category,
        dispute_type: Option<DisputeType>,
        priority: Priority,
        citizen_id: Id,
        details: Value,
    ) -> Case {
        let now = crate::time::now();
        Case {
            id: Id::new(),
            case_type,
            title,
            description,
            category,
            dispute_type,
            status: CaseStatus::Pending,
            priority,
            citizen_id,
            assigned_lawyer_id: None,
            details,
            notes: Value::Array(Vec::new()),
            timeline: Value::Array(Vec::new()),
            documents: Value::Array(Vec::new()),
            resolution: Value::Null,
            resolved_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Open for offers and assignment: pending and nobody assigned.
    pub fn is_open(&self) -> bool {
        self.parties().is_open()
    }

    /// Its parties, for the access rules.
    pub fn parties(&self) -> CaseParties {
        CaseParties {
            citizen_id: self.citizen_id.clone(),
            assigned_lawyer_id: self.assigned_lawyer_id.clone(),
            status: self.status,
        }
    }

    pub fn push_timeline(&mut self, action: TimelineAction, description: String, performed_by: Option<&Id>) {
        let item = TimelineItem { id: Id::new(), action, description, performed_by, timestamp: crate::time::now() };
        push(&mut self.timeline, &item);
    }

    /// Changes the status; a change appends the model's `status_change` timeline item.
    pub fn set_status(&mut self, status: CaseStatus) {
        if self.status != status {
            self.status = status;
            self.push_timeline(TimelineAction::StatusChange, format!("Status changed to {status}"), None);
        }
    }

    pub fn push_note(&mut self, author: &Id, content: String) {
        let is_private = (self.case_type == CaseType::Dispute).then_some(false);
        let note = NoteItem { id: Id::new(), author, content, is_private, created_at: crate::time::now() };
        push(&mut self.notes, &note);
    }

    fn from_row(row: &AnyRow) -> sqlx::Result<Case> {
        let raw_type = row.text("case_type")?;
        Ok(Case {
            id: row.id("id")?,
            case_type: raw_type.parse().unwrap_or(CaseType::Query),
            title: row.text("title")?,
            description: row.text("description")?,
            category: parse_col(row.text("category")?)?,
            dispute_type: row.text_opt("dispute_type")?.map(parse_col).transpose()?,
            status: parse_col(row.text("status")?)?,
            priority: parse_col(row.text("priority")?)?,
            citizen_id: row.id("citizen_id")?,
            assigned_lawyer_id: row.id_opt("assigned_lawyer_id")?,
            details: row.json("details")?,
            notes: row.json("notes")?,
            timeline: row.json("timeline")?,
            documents: row.json("documents")?,
            resolution: row.json("resolution")?,
            resolved_at: row.text_opt("resolved_at")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
            version: row.int("version")?,
        })
    }
}

/// A timeline item as nyaya writes it. The `timeline` column is read back as JSON: items
/// imported from the original keep the keys and key order of the dump.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TimelineItem<'a> {
    #[serde(rename = "_id")]
    id: Id,
    action: TimelineAction,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    performed_by: Option<&'a Id>,
    timestamp: Timestamp,
}

/// A note as nyaya writes it (disputes' notes carry `isPrivate`); read back as JSON like the
/// timeline.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NoteItem<'a> {
    #[serde(rename = "_id")]
    id: Id,
    author: &'a Id,
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_private: Option<bool>,
    created_at: Timestamp,
}

/// Appends an item to a JSON list column (a list that is not one becomes `[item]`).
fn push(array: &mut Value, item: &impl Serialize) {
    let item = serde_json::to_value(item).expect("a list item serializes to JSON");
    match array.as_array_mut() {
        Some(items) => items.push(item),
        None => *array = Value::Array(vec![item]),
    }
}

/// A case with all its request entries (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub case: Case,
    pub requests: Vec<CaseRequest>,
}

impl CaseRecord {
    pub fn entries(&self, direction: Direction) -> impl Iterator<Item = &CaseRequest> {
        self.requests.iter().filter(move |r| r.direction == direction)
    }

    /// The pending entry of `lawyer` in one list (the model's duplicate test).
    pub fn pending_entry(&self, direction: Direction, lawyer: &Id) -> Option<&CaseRequest> {
        self.entries(direction).find(|r| r.is_pending() && &r.lawyer_id == lawyer)
    }

    pub fn request(&self, id: &Id) -> Option<&CaseRequest> {
        self.requests.iter().find(|r| &r.id == id)
    }

    pub fn request_mut(&mut self, id: &Id) -> Option<&mut CaseRequest> {
        self.requests.iter_mut().find(|r| &r.id == id)
    }

    /// Appends a pending entry and returns it.
    pub fn add_request(
        &mut self,
        direction: Direction,
        lawyer: &Id,
        requested_by: &Id,
        message: Option<String>,
    ) -> &mut CaseRequest {
        self.requests.push(CaseRequest {
            id: Id::new(),
            case_id: self.case.id.clone(),
            direction,
            lawyer_id: lawyer.clone(),
            requested_by: Some(requested_by.clone()),
            status: RequestStatus::Pending,
            message,
            proposed_fee: None,
            estimated_duration: None,
            requested_at: crate::time::now(),
            responded_at: None,
        });
        self.requests.last_mut().expect("just pushed")
    }

    /// Every lawyer named in an entry, plus the assigned one: whose cached views show this case.
    pub fn involved_lawyers(&self) -> Vec<Id> {
        let mut out: Vec<Id> = self.requests.iter().map(|r| r.lawyer_id.clone()).collect();
        out.extend(self.case.assigned_lawyer_id.clone());
        out.sort();
        out.dedup();
        out
    }
}

fn bind_case(sql: Sql, c: &Case) -> Sql {
    sql.arg(&c.id)
        .arg(c.case_type.as_str())
        .arg(&c.title)
        .arg(&c.description)
        .arg(c.category.as_str())
        .arg(c.dispute_type.map(DisputeType::as_str))
        .arg(c.status.as_str())
        .arg(c.priority.as_str())
        .arg(&c.citizen_id)
        .arg(c.assigned_lawyer_id.clone())
        .arg(c.details.to_string())
        .arg(c.notes.to_string())
        .arg(c.timeline.to_string())
        .arg(c.documents.to_string())
        .arg((!c.resolution.is_null()).then(|| c.resolution.to_string()))
        .arg(c.resolved_at.clone())
        .arg(c.created_at)
        .arg(c.updated_at)
}

pub async fn insert(db: &Db, c: &Case) -> sqlx::Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO cases ({}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",
        CASE_COLUMNS.join(", ")
    ));
    db.exec(&bind_case(sql, c).arg(c.version)).await.map(|_| ())
}

/// A case with its entries.
pub async fn load(db: &Db, id: &Id) -> sqlx::Result<Option<CaseRecord>> {
    let sql = Sql::new(format!("SELECT {} FROM cases c WHERE c.id = $1", columns("c", CASE_COLUMNS))).arg(id);
    let Some(row) = db.opt(&sql).await? else { return Ok(None) };
    let case = Case::from_row(&row)?;
    let requests = requests_of(db, std::slice::from_ref(&case.id)).await?;
    Ok(Some(CaseRecord { case, requests }))
}

/// Writes `after` over `before`: the case row (if its version is still `before`'s) and the
/// difference in entries. `false` when another writer came first; the caller retries.
pub async fn save(tx: &mut Tx, before: &CaseRecord, after: &CaseRecord) -> sqlx::Result<bool> {
    let sql = Sql::new(
        "UPDATE cases SET case_type=$2, title=$3, description=$4, category=$5, dispute_type=$6, status=$7, priority=$8, \
         citizen_id=$9, assigned_lawyer_id=$10, details=$11, notes=$12, timeline=$13, documents=$14, resolution=$15, \
         resolved_at=$16, created_at=$17, updated_at=$18, version=version+1 WHERE id=$1 AND version=$19",
    );
    if tx.exec(&bind_case(sql, &after.case).arg(before.case.version)).await? == 0 {
        return Ok(false);
    }
    let old: HashMap<&Id, &CaseRequest> = before.requests.iter().map(|r| (&r.id, r)).collect();
    for r in &after.requests {
        match old.get(&r.id) {
            None => insert_request(tx, r).await?,
            Some(previous) if *previous != r => update_request(tx, r).await?,
            Some(_) => {}
        }
    }
    for r in &before.requests {
        if after.request(&r.id).is_none() {
            tx.exec(&Sql::new("DELETE FROM case_requests WHERE id = $1").arg(&r.id)).await?;
        }
    }
    Ok(true)
}

async fn insert_request(tx: &mut Tx, r: &CaseRequest) -> sqlx::Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO case_requests ({}) VALUES ($1,$2,$3,$4,$5,$6,$7,CAST($8 AS DOUBLE PRECISION),$9,$10,$11)",
        REQUEST_COLUMNS.join(", ")
    ));
    tx.exec(&bind_request(sql, r)).await.map(|_| ())
}

async fn update_request(tx: &mut Tx, r: &CaseRequest) -> sqlx::Result<()> {
    let sql = Sql::new(
        "UPDATE case_requests SET case_id=$2, direction=$3, lawyer_id=$4, requested_by=$5, status=$6, message=$7, \
         proposed_fee=CAST($8 AS DOUBLE PRECISION), estimated_duration=$9, requested_at=$10, responded_at=$11 WHERE id=$1",
    );
    tx.exec(&bind_request(sql, r)).await.map(|_| ())
}

fn bind_request(sql: Sql, r: &CaseRequest) -> Sql {
    sql.arg(&r.id)
        .arg(&r.case_id)
        .arg(r.direction.as_str())
        .arg(&r.lawyer_id)
        .arg(r.requested_by.clone())
        .arg(r.status.as_str())
        .arg(r.message.clone())
        // Sent as text and cast in SQL: sqlx's Any driver binds a NULL f64 as a PostgreSQL
        // float4, and a statement prepared that way on a pooled connection then rejects the
        // next non-NULL f64 ("incorrect binary data format"). Text has one type either way.
        .arg(Param::Text(r.proposed_fee.map(|fee| fee.to_string())))
        .arg(r.estimated_duration.clone())
        .arg(r.requested_at)
        .arg(r.responded_at)
}

fn push_in_list(sql: &mut Sql, column: &str, ids: &[Id]) {
    sql.push(column).push(" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(id);
    }
    sql.push(")");
}

/// The entries of several cases, oldest first.
pub async fn requests_of(db: &Db, case_ids: &[Id]) -> sqlx::Result<Vec<CaseRequest>> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT {} FROM case_requests r WHERE ", columns("r", REQUEST_COLUMNS)));
    push_in_list(&mut sql, "r.case_id", case_ids);
    sql.push(" ORDER BY r.requested_at, r.id");
    db.all(&sql).await?.iter().map(CaseRequest::from_row).collect()
}

/// Cases by id (any order).
pub async fn get_many(db: &Db, ids: &[Id]) -> sqlx::Result<Vec<Case>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT {} FROM cases c WHERE ", columns("c", CASE_COLUMNS)));
    push_in_list(&mut sql, "c.id", ids);
    db.all(&sql).await?.iter().map(Case::from_row).collect()
}

/// The case an entry belongs to.
pub async fn case_of_request(db: &Db, request_id: &Id) -> sqlx::Result<Option<Id>> {
    let row = db.opt(&Sql::new("SELECT case_id FROM case_requests WHERE id = $1").arg(request_id)).await?;
    row.map(|r| r.id("case_id")).transpose()
}

/// What a read-access decision needs, in one statement.
#[derive(Debug, Clone)]
pub struct AccessFacts {
    pub case_type: CaseType,
    pub parties: CaseParties,
    /// Whether `user` is named in any entry of the case.
    pub has_entry: bool,
}

/// The citizen and the assigned lawyer (if any) of a case of this type, if it exists: the
/// parties of its chat and its documents.
pub async fn case_parties(db: &Db, case_type: &str, id: &Id) -> sqlx::Result<Option<(Id, Option<Id>)>> {
    let row = db
        .opt(
            &Sql::new("SELECT citizen_id, assigned_lawyer_id FROM cases WHERE id = $1 AND case_type = $2")
                .arg(id)
                .arg(case_type),
        )
        .await?;
    row.map(|r| Ok((r.id("citizen_id")?, r.id_opt("assigned_lawyer_id")?))).transpose()
}

pub async fn access_facts(db: &Db, id: &Id, user: &Id) -> sqlx::Result<Option<AccessFacts>> {
    let sql = Sql::new(
        "SELECT c.case_type, c.citizen_id, c.assigned_lawyer_id, c.status, \
         (SELECT COUNT(*) FROM case_requests r WHERE r.case_id = c.id AND r.lawyer_id = $2) AS entries \
         FROM cases c WHERE c.id = $1",
    )
    .arg(id)
    .arg(user);
    let Some(row) = db.opt(&sql).await? else { return Ok(None) };
    Ok(Some(AccessFacts {
        case_type: row.text("case_type")?.parse().unwrap_or(CaseType::Query),
        parties: CaseParties {
            citizen_id: row.id("citizen_id")?,
            assigned_lawyer_id: row.id_opt("assigned_lawyer_id")?,
            status: parse_col(row.text("status")?)?,
        },
        has_entry: row.int("entries")? > 0,
    }))
}

/// Which cases a list shows. Every condition is ANDed: the role scope can never be widened
/// by a filter.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter<'a> {
    pub case_type: Option<CaseType>,
    pub citizen: Option<&'a Id>,
    pub assigned_lawyer: Option<&'a Id>,
    /// Pending and unassigned.
    pub open_only: bool,
    /// Cases where this lawyer has a `lawyerRequests` entry.
    pub lawyer_entry: Option<&'a Id>,
    /// The filters below are the query parameters as given: a value outside its set matches
    /// nothing (as in the original), so they stay text.
    pub status: Option<&'a str>,
    pub category: Option<&'a str>,
    pub priority: Option<&'a str>,
    pub dispute_type: Option<&'a str>,
    /// Case-insensitive literal substring of the title or description.
    pub search: Option<&'a str>,
}

impl CaseFilter<'_> {
    fn push_where(&self, sql: &mut Sql) {
        sql.push(" WHERE 1 = 1");
        if let Some(t) = self.case_type {
            sql.push(" AND c.case_type = ").push_bind(t.as_str());
        }
        if let Some(id) = self.citizen {
            sql.push(" AND c.citizen_id = ").push_bind(id);
        }
        if let Some(id) = self.assigned_lawyer {
            sql.push(" AND c.assigned_lawyer_id = ").push_bind(id);
        }
        if self.open_only {
            sql.push(&format!(" AND c.status = '{}' AND c.assigned_lawyer_id IS NULL", CaseStatus::Pending));
        }
        if let Some(id) = self.lawyer_entry {
            let exists = format!(
                " AND EXISTS (SELECT 1 FROM case_requests r WHERE r.case_id = c.id AND r.direction = '{}' \
                 AND r.lawyer_id = ",
                Direction::Lawyer
            );
            sql.push(&exists).push_bind(id).push(")");
        }
        for (column, value) in [
            ("c.status", self.status),
            ("c.category", self.category),
            ("c.priority", self.priority),
            ("c.dispute_type", self.dispute_type),
        ] {
            if let Some(v) = value {
                sql.push(" AND ").push(column).push(" = ").push_bind(v);
            }
        }
        if let Some(needle) = self.search {
            let pattern = like_pattern(needle);
            sql.push(" AND (LOWER(c.title) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR LOWER(c.description) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
    }
}

/// Sort keys a client may choose (anything else sorts by creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Title,
    Status,
    Priority,
    Category,
}

impl SortKey {
    pub fn parse(raw: Option<&str>) -> SortKey {
        match raw {
            Some("updatedAt") => SortKey::UpdatedAt,
            Some("title") => SortKey::Title,
            Some("status") => SortKey::Status,
            Some("priority") => SortKey::Priority,
            Some("category") => SortKey::Category,
            _ => SortKey::CreatedAt,
        }
    }

    fn column(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "c.created_at",
            SortKey::UpdatedAt => "c.updated_at",
            SortKey::Title => "c.title",
            SortKey::Status => "c.status",
            SortKey::Priority => "c.priority",
            SortKey::Category => "c.category",
        }
    }
}

/// One page of matching cases and the total number of matches.
pub async fn list(
    db: &Db,
    filter: &CaseFilter<'_>,
    sort: SortKey,
    descending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Case>, i64)> {
    let mut count = Sql::new("SELECT COUNT(*) FROM cases c");
    filter.push_where(&mut count);
    let total = db.count(&count).await?;
    let mut sql = Sql::new(format!("SELECT {} FROM cases c", columns("c", CASE_COLUMNS)));
    filter.push_where(&mut sql);
    let dir = if descending { "DESC" } else { "ASC" };
    sql.push(&format!(" ORDER BY {} {dir}, c.id {dir}", sort.column())).push_page(limit, offset);
    let cases = db.all(&sql).await?.iter().map(Case::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    Ok((cases, total))
}

/// Which request entries a list shows.
#[derive(Debug, Clone)]
pub struct RequestFilter<'a> {
    pub direction: Direction,
    pub lawyer: Option<&'a Id>,
    pub citizen: Option<&'a Id>,
    /// The `status` query parameter as given (a value outside the set matches nothing).
    pub status: Option<&'a str>,
    pub case_type: Option<CaseType>,
    /// Only the newest entry of each (case, lawyer): "one item per case".
    pub latest_per_case: bool,
}

impl RequestFilter<'_> {
    fn push_where(&self, sql: &mut Sql) {
        sql.push(" WHERE r.direction = ").push_bind(self.direction.as_str());
        if let Some(id) = self.lawyer {
            sql.push(" AND r.lawyer_id = ").push_bind(id);
        }
        if let Some(id) = self.citizen {
            sql.push(" AND c.citizen_id = ").push_bind(id);
        }
        if let Some(t) = self.case_type {
            sql.push(" AND c.case_type = ").push_bind(t.as_str());
        }
        if self.latest_per_case {
            sql.push(
                " AND NOT EXISTS (SELECT 1 FROM case_requests n WHERE n.case_id = r.case_id AND n.direction = r.direction \
                 AND n.lawyer_id = r.lawyer_id AND (n.requested_at > r.requested_at OR (n.requested_at = r.requested_at AND n.id > r.id)))",
            );
        }
        if let Some(status) = self.status {
            sql.push(" AND r.status = ").push_bind(status);
        }
    }
}

/// One page of matching entries (newest first), their cases, and the total number of matches.
pub async fn list_requests(
    db: &Db,
    filter: &RequestFilter<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<CaseRequest>, HashMap<Id, Case>, i64)> {
    const FROM: &str = " FROM case_requests r JOIN cases c ON c.id = r.case_id";
    let mut count = Sql::new(format!("SELECT COUNT(*){FROM}"));
    filter.push_where(&mut count);
    let total = db.count(&count).await?;
    let mut sql = Sql::new(format!("SELECT {}{FROM}", columns("r", REQUEST_COLUMNS)));
    filter.push_where(&mut sql);
    sql.push(" ORDER BY r.requested_at DESC, r.id DESC").push_page(limit, offset);
    let requests = db.all(&sql).await?.iter().map(CaseRequest::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    let mut case_ids: Vec<Id> = requests.iter().map(|r| r.case_id.clone()).collect();
    case_ids.sort();
    case_ids.dedup();
    let cases = get_many(db, &case_ids).await?.into_iter().map(|c| (c.id.clone(), c)).collect();
    Ok((requests, cases, total))
}

/// Whose cases a count is about.
#[derive(Debug, Clone, Copy)]
pub enum Party<'a> {
    Citizen(&'a Id),
    AssignedLawyer(&'a Id),
}

/// Number of cases per (type, status) of one party.
pub async fn status_counts(db: &Db, party: Party<'_>) -> sqlx::Result<HashMap<(CaseType, CaseStatus), i64>> {
    let (column, id) = match party {
        Party::Citizen(id) => ("citizen_id", id),
        Party::AssignedLawyer(id) => ("assigned_lawyer_id", id),
    };
    let sql = Sql::new(format!(
        "SELECT case_type, status, COUNT(*) AS n FROM cases WHERE {column} = $1 GROUP BY case_type, status"
    ))
    .arg(id);
    let mut out = HashMap::new();
    for row in db.all(&sql).await? {
        let Ok(t) = row.text("case_type")?.parse::<CaseType>() else { continue };
        out.insert((t, parse_col(row.text("status")?)?), row.int("n")?);
    }
    Ok(out)
}

/// Newest cases of a citizen of one type.
pub async fn newest_of_citizen(db: &Db, citizen: &Id, case_type: CaseType, limit: i64) -> sqlx::Result<Vec<Case>> {
    let filter = CaseFilter { case_type: Some(case_type), citizen: Some(citizen), ..CaseFilter::default() };
    let mut sql = Sql::new(format!("SELECT {} FROM cases c", columns("c", CASE_COLUMNS)));
    filter.push_where(&mut sql);
    sql.push(" ORDER BY c.created_at DESC, c.id DESC").push_limit(limit);
    db.all(&sql).await?.iter().map(Case::from_row).collect()
}

/// What a citizen's dashboard counts, read in one statement.
#[derive(Debug, Default)]
pub struct CitizenCounts {
    /// Cases per `(type, status)`.
    pub by_status: HashMap<(CaseType, CaseStatus), i64>,
    /// Cases with a pending entry in `citizenRequests` (the citizen asked a lawyer).
    pub with_pending_asks: i64,
    /// Cases with a pending entry in `lawyerRequests` (offers to answer).
    pub with_pending_offers: i64,
    /// Active direct connections, accepted and pending.
    pub connected: i64,
    pub pending_connections: i64,
}

pub async fn citizen_counts(db: &Db, citizen: &Id) -> sqlx::Result<CitizenCounts> {
    let pending_in = |direction: Direction| {
        format!(
            "SELECT '{0}' AS kind, c.case_type AS case_type, '' AS status, COUNT(*) AS n FROM cases c WHERE c.citizen_id = $1 \
             AND EXISTS (SELECT 1 FROM case_requests r WHERE r.case_id = c.id AND r.direction = '{0}' AND r.status = '{1}') \
             GROUP BY c.case_type",
            direction.as_str(),
            RequestStatus::Pending.as_str()
        )
    };
    let sql = Sql::new(format!(
        "SELECT 'cases' AS kind, case_type, status, COUNT(*) AS n FROM cases WHERE citizen_id = $1 GROUP BY case_type, status \
         UNION ALL {} UNION ALL {} UNION ALL \
         SELECT 'connections' AS kind, '' AS case_type, status, COUNT(*) AS n FROM direct_connections \
         WHERE citizen_id = $1 AND is_active = TRUE GROUP BY status",
        pending_in(Direction::Citizen),
        pending_in(Direction::Lawyer)
    ))
    .arg(citizen);
    let mut out = CitizenCounts::default();
    for row in db.all(&sql).await? {
        let n = row.int("n")?;
        match (row.text("kind")?.as_str(), row.text("status")?.as_str()) {
            ("cases", status) => {
                if let Ok(t) = row.text("case_type")?.parse::<CaseType>() {
                    out.by_status.insert((t, parse_col(status.to_string())?), n);
                }
            }
            (kind, _) if kind == Direction::Citizen.as_str() => out.with_pending_asks += n,
            (kind, _) if kind == Direction::Lawyer.as_str() => out.with_pending_offers += n,
            ("connections", status) => match status.parse() {
                Ok(ConnectionStatus::Accepted) => out.connected = n,
                Ok(ConnectionStatus::Pending) => out.pending_connections = n,
                _ => {}
            },
            _ => {}
        }
    }
    Ok(out)
}

/// A direct connection as the activity feed shows it.
#[derive(Debug, Clone)]
pub struct ConnectionActivity {
    pub id: Id,
    pub lawyer_id: Id,
    pub status: ConnectionStatus,
    pub created_at: Timestamp,
}

pub async fn newest_connections(db: &Db, citizen: &Id, limit: i64) -> sqlx::Result<Vec<ConnectionActivity>> {
    let mut sql = Sql::new(
        "SELECT id, lawyer_id, status, created_at FROM direct_connections WHERE citizen_id = $1 \
         ORDER BY created_at DESC, id DESC",
    )
    .arg(citizen);
    sql.push_limit(limit);
    db.all(&sql)
        .await?
        .iter()
        .map(|row| {
            Ok(ConnectionActivity {
                id: row.id("id")?,
                lawyer_id: row.id("lawyer_id")?,
                status: parse_col(row.text("status")?)?,
                created_at: row.timestamp("created_at")?,
            })
        })
        .collect()
}

/// The `chatRoom` of a case in my-cases lists.
#[derive(Debug, Clone)]
pub struct ChatRoom {
    pub chat_id: String,
    pub status: ChatStatus,
    /// The newest message, if any.
    pub last_message: Option<LastMessage>,
    /// Messages not sent by the reader, not deleted, without a read receipt of the reader.
    pub unread_count: i64,
}

/// The newest message of a case chat, as the chat row keeps it.
#[derive(Debug, Clone)]
pub struct LastMessage {
    pub content: Option<String>,
    pub at: Timestamp,
    pub sender: Option<Id>,
}

/// Case chats in which `user` participates, by case id.
pub async fn chat_rooms(db: &Db, user: &Id, case_ids: &[Id]) -> sqlx::Result<HashMap<Id, ChatRoom>> {
    if case_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = Sql::new(
        "SELECT ch.chat_id, ch.status, ch.related_case_type, ch.related_case_id, ch.last_message_content, \
         ch.last_message_sender, ch.last_message_at, \
         (SELECT COUNT(*) FROM messages m WHERE m.chat_ref = ch.id AND m.sent_at > COALESCE(p.read_through, '') \
          AND m.sender_id <> $1 AND m.is_deleted = $2 \
          AND NOT EXISTS (SELECT 1 FROM message_reads mr WHERE mr.message_id = m.id AND mr.user_id = $1)) AS unread \
         FROM chats ch JOIN chat_participants p ON p.chat_ref = ch.id AND p.user_id = $1 \
         WHERE ch.related_case_id IS NOT NULL AND ",
    )
    .arg(user)
    .arg(false);
    push_in_list(&mut sql, "ch.related_case_id", case_ids);
    sql.push(" ORDER BY ch.created_at");
    let mut out: HashMap<Id, ChatRoom> = HashMap::new();
    for row in db.all(&sql).await? {
        let case_id = row.id("related_case_id")?;
        let chat_id = row.text("chat_id")?;
        let canonical = row
            .text_opt("related_case_type")?
            .and_then(|t| t.parse::<CaseType>().ok())
            .is_some_and(|t| crate::store::chats::case_chat_id(t.as_str(), &case_id) == chat_id);
        let room = ChatRoom {
            chat_id,
            status: parse_col(row.text("status")?)?,
            last_message: match row.timestamp_opt("last_message_at")? {
                Some(at) => Some(LastMessage {
                    content: row.text_opt("last_message_content")?,
                    at,
                    sender: row.id_opt("last_message_sender")?,
                }),
                None => None,
            },
            unread_count: row.int("unread")?,
        };
        // The `<caseType>_<caseId>` chat wins over any legacy one of the same case.
        if canonical || !out.contains_key(&case_id) {
            out.insert(case_id, room);
        }
    }
    Ok(out)
}
