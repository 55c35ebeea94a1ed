//! Direct connections (docs/api.md 2.6): one record per (citizen, lawyer) pair, whatever its status.

use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql, Tx};
use crate::domain::connection::ConnectionStatus;
use crate::domain::page::Page;
use crate::ids::Id;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: Id,
    pub citizen: Id,
    pub lawyer: Id,
    pub status: ConnectionStatus,
    pub request_message: String,
    pub requested_at: Timestamp,
    pub responded_at: Option<Timestamp>,
    pub response_message: Option<String>,
    pub chat_id: Option<String>,
    /// `{citizenLocation, lawyerSpecialization, connectionType}`.
    pub metadata: Value,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Read with the flag as an expression: sqlx's `Any` driver cannot map SQLite's BOOLEAN.
const COLUMNS: &str = "dc.id, dc.citizen_id, dc.lawyer_id, dc.status, dc.request_message, dc.requested_at, \
    dc.responded_at, dc.response_message, dc.chat_id, dc.metadata, (dc.is_active = TRUE) AS is_active, dc.created_at, \
    dc.updated_at";

impl Connection {
    /// A new pending request (not yet stored).
    pub fn new(citizen: Id, lawyer: Id, request_message: String, metadata: Value) -> Connection {
        let now = Timestamp::now();
        Connection {
            id: Id::new(),
            citizen,
            lawyer,
            status: ConnectionStatus::Pending,
            request_message,
            requested_at: now,
            responded_at: None,
            response_message: None,
            chat_id: None,
            metadata,
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn from_row(row: &AnyRow) -> sqlx::Result<Connection> {
        Ok(Connection {
            id: row.id("id")?,
            citizen: row.id("citizen_id")?,
            lawyer: row.id("lawyer_id")?,
            status: row.text("status")?.parse()?,
            request_message: row.text("request_message")?,
            requested_at: row.timestamp("requested_at")?,
            responded_at: row.timestamp_opt("responded_at")?,
            response_message: row.text_opt("response_message")?,
            chat_id: row.text_opt("chat_id")?,
            metadata: row.json("metadata")?,
            is_active: row.flag("is_active")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }
}

async fn fetch_opt(db: &Db, sql: Sql) -> sqlx::Result<Option<Connection>> {
    db.opt(&sql).await?.as_ref().map(Connection::from_row).transpose()
}

pub async fn get(db: &Db, id: &Id) -> sqlx::Result<Option<Connection>> {
    fetch_opt(db, Sql::new(format!("SELECT {COLUMNS} FROM direct_connections dc WHERE dc.id = $1")).arg(id)).await
}

/// The record of a pair, whatever its status or activity.
pub async fn find_pair(db: &Db, citizen: &Id, lawyer: &Id) -> sqlx::Result<Option<Connection>> {
    fetch_opt(
        db,
        Sql::new(format!("SELECT {COLUMNS} FROM direct_connections dc WHERE dc.citizen_id = $1 AND dc.lawyer_id = $2"))
            .arg(citizen)
            .arg(lawyer),
    )
    .await
}

/// Stores a new request. A concurrent request for the same pair is a unique violation.
pub async fn insert(db: &Db, c: &Connection) -> sqlx::Result<()> {
    db.exec(&insert_sql(c)).await.map(|_| ())
}

/// [`insert`] inside the caller's transaction (bulk seeding).
pub async fn insert_in(tx: &mut Tx, c: &Connection) -> sqlx::Result<()> {
    tx.exec(&insert_sql(c)).await.map(|_| ())
}

fn insert_sql(c: &Connection) -> Sql {
    Sql::new(
        "INSERT INTO direct_connections (id, citizen_id, lawyer_id, status, request_message, requested_at, \
         responded_at, response_message, chat_id, metadata, is_active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .arg(&c.id)
    .arg(&c.citizen)
    .arg(&c.lawyer)
    .arg(c.status.as_str())
    .arg(&c.request_message)
    .arg(c.requested_at)
    .arg(c.responded_at)
    .arg(c.response_message.clone())
    .arg(c.chat_id.clone())
    .arg(c.metadata.to_string())
    .arg(c.is_active)
    .arg(c.created_at)
    .arg(c.updated_at)
}

/// Turns a rejected request back into a pending one with a new message. Returns false when
/// the record was no longer rejected (a concurrent change won).
pub async fn reopen(db: &Db, id: &Id, message: &str, metadata: &Value, now: Timestamp) -> sqlx::Result<bool> {
    let changed = db
        .exec(
            &Sql::new(
                "UPDATE direct_connections SET status = 'pending', request_message = $2, requested_at = $3, \
                 responded_at = NULL, response_message = NULL, metadata = $4, updated_at = $3 \
                 WHERE id = $1 AND status = 'rejected' AND is_active = TRUE",
            )
            .arg(id)
            .arg(message)
            .arg(now)
            .arg(metadata.to_string()),
        )
        .await?;
    Ok(changed == 1)
}

/// The lawyer's answer to a pending request: `accepted` (with the chat id) or `rejected`.
/// Returns false when the request was no longer pending.
pub async fn respond(
    db: &Db,
    id: &Id,
    status: ConnectionStatus,
    response: &str,
    chat_id: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = db
        .exec(
            &Sql::new(
                "UPDATE direct_connections SET status = $2, responded_at = $3, response_message = $4, \
                 chat_id = COALESCE(chat_id, $5), updated_at = $3 \
                 WHERE id = $1 AND status = 'pending' AND is_active = TRUE",
            )
            .arg(id)
            .arg(status.as_str())
            .arg(now)
            .arg(response)
            .arg(chat_id),
        )
        .await?;
    Ok(changed == 1)
}

/// Deletes a citizen's own pending request. Returns false when there was none.
pub async fn delete_pending(db: &Db, id: &Id, citizen: &Id) -> sqlx::Result<bool> {
    let changed = db
        .exec(
            &Sql::new("DELETE FROM direct_connections WHERE id = $1 AND citizen_id = $2 AND status = 'pending'")
                .arg(id)
                .arg(citizen),
        )
        .await?;
    Ok(changed == 1)
}

/// Whose records a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    Citizen(&'a Id),
    Lawyer(&'a Id),
}

#[derive(Debug, Clone, Copy)]
pub enum Order {
    RequestedDesc,
    RespondedDesc,
}

fn filter_sql(head: &str, side: Side<'_>, status: ConnectionStatus) -> Sql {
    let mut sql = Sql::new(head);
    match side {
        Side::Citizen(id) => sql.push(" WHERE dc.citizen_id = ").push_bind(id),
        Side::Lawyer(id) => sql.push(" WHERE dc.lawyer_id = ").push_bind(id),
    };
    sql.push(" AND dc.status = ").push_bind(status.as_str());
    sql.push(" AND dc.is_active = TRUE");
    sql
}

/// One page of a user's active records in one status.
pub async fn list(
    db: &Db,
    side: Side<'_>,
    status: ConnectionStatus,
    order: Order,
    page: Page,
) -> sqlx::Result<Vec<Connection>> {
    let mut sql = filter_sql(&format!("SELECT {COLUMNS} FROM direct_connections dc"), side, status);
    sql.push(match order {
        Order::RequestedDesc => " ORDER BY dc.requested_at DESC, dc.id DESC",
        Order::RespondedDesc => " ORDER BY dc.responded_at DESC, dc.id DESC",
    });
    sql.push_page(page.limit, page.offset());
    db.all(&sql).await?.iter().map(Connection::from_row).collect()
}

pub async fn count(db: &Db, side: Side<'_>, status: ConnectionStatus) -> sqlx::Result<i64> {
    db.count(&filter_sql("SELECT COUNT(*) FROM direct_connections dc", side, status)).await
}

const CHATS_OF_CITIZEN_FROM: &str = "FROM direct_connections dc JOIN chats c ON c.chat_id = dc.chat_id \
    WHERE dc.citizen_id = $1 AND dc.status = 'accepted' AND dc.is_active = TRUE";

/// A citizen's accepted connections that have a chat, most recent chat activity first
/// (last message, else the time the lawyer accepted).
pub async fn with_chats_of_citizen(db: &Db, citizen: &Id, page: Page) -> sqlx::Result<Vec<Connection>> {
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS} {CHATS_OF_CITIZEN_FROM} \
         ORDER BY COALESCE(c.last_message_at, dc.responded_at, dc.requested_at) DESC, dc.id DESC"
    ))
    .arg(citizen);
    sql.push_page(page.limit, page.offset());
    db.all(&sql).await?.iter().map(Connection::from_row).collect()
}

pub async fn count_with_chats_of_citizen(db: &Db, citizen: &Id) -> sqlx::Result<i64> {
    db.count(&Sql::new(format!("SELECT COUNT(*) {CHATS_OF_CITIZEN_FROM}")).arg(citizen)).await
}

/// The numbers of a citizen's dashboard push (`dashboard_stats_updated`, docs/api.md 3.5 #1).
#[derive(Debug, Clone, Copy)]
pub struct CitizenStats {
    pub total_cases: i64,
    pub resolved_cases: i64,
    pub connected_lawyers: i64,
    pub pending_requests: i64,
}

pub async fn citizen_stats(db: &Db, citizen: &Id) -> sqlx::Result<CitizenStats> {
    let total_cases = db.count(&Sql::new("SELECT COUNT(*) FROM cases WHERE citizen_id = $1").arg(citizen)).await?;
    let resolved_cases = db
        .count(&Sql::new("SELECT COUNT(*) FROM cases WHERE citizen_id = $1 AND status = 'resolved'").arg(citizen))
        .await?;
    let connected_lawyers = count(db, Side::Citizen(citizen), ConnectionStatus::Accepted).await?;
    let pending_connections = count(db, Side::Citizen(citizen), ConnectionStatus::Pending).await?;
    let cases_with_pending_requests = db
        .count(
            &Sql::new(
                "SELECT COUNT(*) FROM cases c WHERE c.citizen_id = $1 AND EXISTS (SELECT 1 FROM case_requests r \
                 WHERE r.case_id = c.id AND r.direction = 'citizen' AND r.status = 'pending')",
            )
            .arg(citizen),
        )
        .await?;
    Ok(CitizenStats {
        total_cases,
        resolved_cases,
        connected_lawyers,
        pending_requests: cases_with_pending_requests + pending_connections,
    })
}
