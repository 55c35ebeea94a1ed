//! Chats (docs/api.md 2.5): the chat row, its participants, its messages and their read receipts,
//! each in its own table. `chat_id` is the public id (`direct_<a>_<b>`, `<caseType>_<caseId>`);
//! `id` is the internal ObjectId-style `_id`.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql, Tx};
use crate::domain::chat::{ChatStatus, ChatType, MessageType};
use crate::domain::page::Page;
use crate::ids::Id;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct Participant {
    pub user_id: Id,
    pub role: String,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct LastMessage {
    pub content: String,
    pub sender: Id,
    pub timestamp: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: Id,
    pub chat_id: String,
    pub chat_type: ChatType,
    pub status: ChatStatus,
    /// `(caseType, caseId)` of case chats.
    pub related_case: Option<(String, Id)>,
    pub direct_connection: Option<Id>,
    pub last_message: Option<LastMessage>,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub participants: Vec<Participant>,
}

impl Chat {
    /// A new chat (not yet stored) with its participants joined now.
    pub fn new(chat_id: String, chat_type: ChatType, status: ChatStatus, participants: &[(Id, String)]) -> Chat {
        let now = Timestamp::now();
        Chat {
            id: Id::new(),
            chat_id,
            chat_type,
            status,
            related_case: None,
            direct_connection: None,
            last_message: None,
            is_active: true,
            created_at: now,
            updated_at: now,
            participants: participants
                .iter()
                .map(|(user_id, role)| Participant { user_id: user_id.clone(), role: role.clone(), joined_at: now })
                .collect(),
        }
    }

    pub fn participant(&self, user: &Id) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.user_id == user)
    }

    fn from_row(row: &AnyRow) -> sqlx::Result<Chat> {
        let related_case = match (row.text_opt("related_case_type")?, row.id_opt("related_case_id")?) {
            (Some(t), Some(id)) => Some((t, id)),
            _ => None,
        };
        let last_message = match (
            row.text_opt("last_message_content")?,
            row.id_opt("last_message_sender")?,
            row.timestamp_opt("last_message_at")?,
        ) {
            (Some(content), Some(sender), Some(timestamp)) => Some(LastMessage { content, sender, timestamp }),
            _ => None,
        };
        Ok(Chat {
            id: row.id("id")?,
            chat_id: row.text("chat_id")?,
            chat_type: row.text("chat_type")?.parse()?,
            status: row.text("status")?.parse()?,
            related_case,
            direct_connection: row.id_opt("direct_connection_id")?,
            last_message,
            is_active: row.flag("is_active")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
            participants: Vec::new(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: Id,
    pub chat_ref: Id,
    pub sender: Id,
    pub content: String,
    pub message_type: MessageType,
    /// `{ipfsHash, originalName, mimeType, size, url, documentId}` or null.
    pub file_data: Value,
    pub attachments: Value,
    pub client_temp_id: Option<String>,
    pub timestamp: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub is_deleted: bool,
    /// Read receipts `(user, readAt)`.
    pub reads: Vec<(Id, Timestamp)>,
}

impl Message {
    fn from_row(row: &AnyRow) -> sqlx::Result<Message> {
        Ok(Message {
            id: row.id("id")?,
            chat_ref: row.id("chat_ref")?,
            sender: row.id("sender_id")?,
            content: row.text("content")?,
            message_type: row.text("message_type")?.parse()?,
            file_data: row.json("file_data")?,
            attachments: row.json("attachments")?,
            client_temp_id: row.text_opt("client_temp_id")?,
            timestamp: row.timestamp("sent_at")?,
            edited_at: row.timestamp_opt("edited_at")?,
            is_deleted: row.flag("is_deleted")?,
            reads: Vec::new(),
        })
    }
}

/// A message to append (validated by the service).
#[derive(Debug, Clone)]
pub struct MessageDraft {
    pub sender: Id,
    pub content: String,
    pub message_type: MessageType,
    pub file_data: Value,
    pub client_temp_id: Option<String>,
}

// sqlx's `Any` driver cannot map SQLite columns declared BOOLEAN: flags are read as
// expressions (an integer on SQLite, a boolean on PostgreSQL; `RowExt::flag` takes both).
const CHAT_COLUMNS: &str = "c.id, c.chat_id, c.chat_type, c.status, c.related_case_type, c.related_case_id, \
    c.direct_connection_id, c.last_message_content, c.last_message_sender, c.last_message_at, \
    (c.is_active = TRUE) AS is_active, c.created_at, c.updated_at";

const MESSAGE_COLUMNS: &str = "m.id, m.chat_ref, m.sender_id, m.content, m.message_type, m.file_data, m.attachments, \
    m.client_temp_id, m.sent_at, m.edited_at, (m.is_deleted = TRUE) AS is_deleted";

/// Appends `(v1, v2, ...)` with one placeholder per id. Callers handle the empty list.
pub(crate) fn push_id_list(sql: &mut Sql, ids: &[Id]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(id);
    }
    sql.push(")");
}

async fn attach_participants(db: &Db, chats: &mut [Chat]) -> sqlx::Result<()> {
    if chats.is_empty() {
        return Ok(());
    }
    let refs: Vec<Id> = chats.iter().map(|c| c.id.clone()).collect();
    let mut sql = Sql::new("SELECT chat_ref, user_id, role, joined_at FROM chat_participants WHERE chat_ref IN ");
    push_id_list(&mut sql, &refs);
    sql.push(" ORDER BY joined_at, user_id");
    let mut by_chat: HashMap<Id, Vec<Participant>> = HashMap::new();
    for row in db.all(&sql).await? {
        by_chat.entry(row.id("chat_ref")?).or_default().push(Participant {
            user_id: row.id("user_id")?,
            role: row.text("role")?,
            joined_at: row.timestamp("joined_at")?,
        });
    }
    for chat in chats {
        chat.participants = by_chat.remove(&chat.id).unwrap_or_default();
    }
    Ok(())
}

/// The chat with this public chatId, with its participants.
pub async fn find_by_chat_id(db: &Db, chat_id: &str) -> sqlx::Result<Option<Chat>> {
    let row =
        db.opt(&Sql::new(format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.chat_id = $1")).arg(chat_id)).await?;
    let Some(row) = row else { return Ok(None) };
    let mut chats = vec![Chat::from_row(&row)?];
    attach_participants(db, &mut chats).await?;
    Ok(chats.pop())
}

/// Chats by public chatId, with participants, in no particular order.
pub async fn find_many_by_chat_id(db: &Db, chat_ids: &[String]) -> sqlx::Result<Vec<Chat>> {
    if chat_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.chat_id IN ("));
    for (i, id) in chat_ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(id);
    }
    sql.push(")");
    let mut chats = db.all(&sql).await?.iter().map(Chat::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    attach_participants(db, &mut chats).await?;
    Ok(chats)
}

/// Stores a new chat with its participants. A concurrent creation of the same chatId
/// surfaces as a unique violation (see [`crate::db::is_unique_violation`]).
pub async fn insert(db: &Db, chat: &Chat) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    insert_in(&mut tx, chat).await?;
    tx.commit().await
}

/// [`insert`] inside the caller's transaction (bulk seeding).
pub async fn insert_in(tx: &mut Tx, chat: &Chat) -> sqlx::Result<()> {
    let (case_type, case_id) = match &chat.related_case {
        Some((t, id)) => (Some(t.clone()), Some(id.to_string())),
        None => (None, None),
    };
    tx.exec(
        &Sql::new(
            "INSERT INTO chats (id, chat_id, chat_type, status, related_case_type, related_case_id, direct_connection_id, \
             is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .arg(&chat.id)
        .arg(&chat.chat_id)
        .arg(chat.chat_type.as_str())
        .arg(chat.status.as_str())
        .arg(case_type)
        .arg(case_id)
        .arg(chat.direct_connection.as_ref())
        .arg(chat.is_active)
        .arg(chat.created_at)
        .arg(chat.updated_at),
    )
    .await?;
    for p in &chat.participants {
        tx.exec(
            &Sql::new("INSERT INTO chat_participants (chat_ref, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
                .arg(&chat.id)
                .arg(&p.user_id)
                .arg(&p.role)
                .arg(p.joined_at),
        )
        .await?;
    }
    Ok(())
}

/// Sets the status (and links the connection when the chat has none yet); refreshes `updatedAt`.
pub async fn set_status(
    db: &Db,
    chat_ref: &Id,
    status: ChatStatus,
    connection: Option<&Id>,
) -> sqlx::Result<Timestamp> {
    let now = Timestamp::now();
    db.exec(
        &Sql::new(
            "UPDATE chats SET status = $2, direct_connection_id = COALESCE(direct_connection_id, $3), updated_at = $4 \
             WHERE id = $1",
        )
        .arg(chat_ref)
        .arg(status.as_str())
        .arg(connection)
        .arg(now),
    )
    .await?;
    Ok(now)
}

/// Which chats of one participant a list shows.
#[derive(Debug, Clone, Default)]
pub struct ChatFilter<'a> {
    pub participant: Option<&'a Id>,
    pub chat_type: Option<ChatType>,
    pub status: Option<ChatStatus>,
    pub active_only: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum ChatOrder {
    UpdatedDesc,
    CreatedDesc,
}

fn filter_sql(filter: &ChatFilter<'_>, head: &str) -> Sql {
    let mut sql = Sql::new(head);
    if let Some(user) = filter.participant {
        sql.push(" JOIN chat_participants p ON p.chat_ref = c.id AND p.user_id = ").push_bind(user);
    }
    sql.push(" WHERE 1 = 1");
    if let Some(t) = filter.chat_type {
        sql.push(" AND c.chat_type = ").push_bind(t.as_str());
    }
    if let Some(s) = filter.status {
        sql.push(" AND c.status = ").push_bind(s.as_str());
    }
    if filter.active_only {
        sql.push(" AND c.is_active = TRUE");
    }
    sql
}

/// One page of chats, with participants.
pub async fn list(db: &Db, filter: &ChatFilter<'_>, order: ChatOrder, page: Page) -> sqlx::Result<Vec<Chat>> {
    let mut sql = filter_sql(filter, &format!("SELECT {CHAT_COLUMNS} FROM chats c"));
    sql.push(match order {
        ChatOrder::UpdatedDesc => " ORDER BY c.updated_at DESC, c.id DESC",
        ChatOrder::CreatedDesc => " ORDER BY c.created_at DESC, c.id DESC",
    });
    sql.push_page(page.limit, page.offset());
    let mut chats = db.all(&sql).await?.iter().map(Chat::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    attach_participants(db, &mut chats).await?;
    Ok(chats)
}

pub async fn count(db: &Db, filter: &ChatFilter<'_>) -> sqlx::Result<i64> {
    db.count(&filter_sql(filter, "SELECT COUNT(*) FROM chats c")).await
}

/// Unread messages per chat for `user`: not sent by them, not deleted, not read by them.
pub async fn unread_counts(db: &Db, user: &Id, chat_refs: &[Id]) -> sqlx::Result<HashMap<Id, i64>> {
    if chat_refs.is_empty() {
        return Ok(HashMap::new());
    }
    // Only messages after the reader's watermark can be unread (migrations/0008): the scan
    // covers what arrived since the chat was last read in full, not the whole history.
    let mut sql = Sql::new(
        "SELECT m.chat_ref, COUNT(*) AS n FROM messages m \
         LEFT JOIN chat_participants p ON p.chat_ref = m.chat_ref AND p.user_id = $1 \
         WHERE m.chat_ref IN ",
    )
    .arg(user);
    push_id_list(&mut sql, chat_refs);
    sql.push(
        " AND m.sent_at > COALESCE(p.read_through, '') AND m.sender_id <> $1 AND m.is_deleted = FALSE \
         AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = $1)",
    );
    sql.push(" GROUP BY m.chat_ref");
    let mut out = HashMap::new();
    for row in db.all(&sql).await? {
        out.insert(row.id("chat_ref")?, row.int("n")?);
    }
    Ok(out)
}

async fn attach_reads(db: &Db, messages: &mut [Message], whole_chats: Option<&[Id]>) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("SELECT r.message_id, r.user_id, r.read_at FROM message_reads r ");
    match whole_chats {
        // Every message of these chats: select by chat, not by a possibly huge id list.
        Some(chats) => {
            sql.push("JOIN messages m ON m.id = r.message_id WHERE m.chat_ref IN ");
            push_id_list(&mut sql, chats);
        }
        None => {
            let ids: Vec<Id> = messages.iter().map(|m| m.id.clone()).collect();
            sql.push("WHERE r.message_id IN ");
            push_id_list(&mut sql, &ids);
        }
    }
    sql.push(" ORDER BY r.read_at, r.user_id");
    let mut by_message: HashMap<Id, Vec<(Id, Timestamp)>> = HashMap::new();
    for row in db.all(&sql).await? {
        by_message.entry(row.id("message_id")?).or_default().push((row.id("user_id")?, row.timestamp("read_at")?));
    }
    for m in messages {
        m.reads = by_message.remove(&m.id).unwrap_or_default();
    }
    Ok(())
}

async fn load_messages(db: &Db, sql: &Sql) -> sqlx::Result<Vec<Message>> {
    db.all(sql).await?.iter().map(Message::from_row).collect()
}

/// Every message of these chats, chronological, with read receipts.
pub async fn all_messages(db: &Db, chat_refs: &[Id]) -> sqlx::Result<Vec<Message>> {
    if chat_refs.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.chat_ref IN "));
    push_id_list(&mut sql, chat_refs);
    sql.push(" ORDER BY m.sent_at, m.id");
    let mut messages = load_messages(db, &sql).await?;
    attach_reads(db, &mut messages, Some(chat_refs)).await?;
    Ok(messages)
}

pub async fn count_messages(db: &Db, chat_ref: &Id) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM messages m WHERE m.chat_ref = $1").arg(chat_ref)).await
}

/// A page of a chat's history counted from the newest message: page 1 is the newest `limit`
/// messages, page n the block before. Returned chronologically, with read receipts, and
/// whether older messages remain (read as one row more than the page, instead of a count).
/// `before` keeps only messages strictly earlier than that timestamp.
pub async fn message_page(
    db: &Db,
    chat_ref: &Id,
    before: Option<&str>,
    page: Page,
) -> sqlx::Result<(Vec<Message>, bool)> {
    let mut sql = Sql::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.chat_ref = "));
    sql.push_bind(chat_ref);
    if let Some(before) = before {
        sql.push(" AND m.sent_at < ").push_bind(before);
    }
    sql.push(" ORDER BY m.sent_at DESC, m.id DESC").push_page(page.limit + 1, page.offset());
    let mut messages = load_messages(db, &sql).await?;
    let has_more = messages.len() as i64 > page.limit;
    messages.truncate(page.limit as usize);
    messages.reverse();
    attach_reads(db, &mut messages, None).await?;
    Ok((messages, has_more))
}

/// Appends a message; the database makes it the chat's `lastMessage` (migration 7's trigger).
/// Timestamps within one chat are strictly increasing, so history order never depends on
/// ties: the database refuses a message that would not come after the chat's last one, and
/// then the message is stored again under the chat's lock, 1 ms after the last.
pub async fn insert_message(db: &Db, chat_ref: &Id, draft: MessageDraft) -> sqlx::Result<Message> {
    let message = Message {
        id: Id::new(),
        chat_ref: chat_ref.clone(),
        sender: draft.sender,
        content: draft.content,
        message_type: draft.message_type,
        file_data: draft.file_data,
        attachments: Value::Array(Vec::new()),
        client_temp_id: draft.client_temp_id,
        timestamp: Timestamp::now(),
        edited_at: None,
        is_deleted: false,
        reads: Vec::new(),
    };
    match db.exec(&message_insert(&message)).await {
        Err(e) if is_out_of_order(&e) => insert_after_last(db, message).await,
        other => other.map(|_| message),
    }
}

/// The slow path of [`insert_message`]: a clock tie (or step back) with the chat's last message.
async fn insert_after_last(db: &Db, mut message: Message) -> sqlx::Result<Message> {
    let mut tx = db.begin().await?;
    // Locks the chat row on PostgreSQL (SQLite holds the write lock already).
    let lock = Sql::new("UPDATE chats SET updated_at = updated_at WHERE id = $1 RETURNING last_message_at")
        .arg(&message.chat_ref);
    let last = tx.one(&lock).await?.timestamp_opt("last_message_at")?;
    let mut at = Timestamp::now();
    if let Some(last) = last {
        at = at.max(last + chrono::Duration::milliseconds(1));
    }
    message.timestamp = at;
    tx.exec(&message_insert(&message)).await?;
    tx.commit().await?;
    Ok(message)
}

/// The trigger's refusal (see migrations/0007_message_order.*.sql).
fn is_out_of_order(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.message().contains("message not after the chat's last message"))
}

fn message_insert(message: &Message) -> Sql {
    Sql::new(
        "INSERT INTO messages (id, chat_ref, sender_id, content, message_type, file_data, attachments, client_temp_id, \
         sent_at, is_deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE)",
    )
    .arg(&message.id)
    .arg(&message.chat_ref)
    .arg(&message.sender)
    .arg(&message.content)
    .arg(message.message_type.as_str())
    .arg((!message.file_data.is_null()).then(|| message.file_data.to_string()))
    .arg(message.attachments.to_string())
    .arg(message.client_temp_id.clone())
    .arg(message.timestamp)
}

/// Records read receipts of `user` for the chat's messages it has not read yet (all of them,
/// or only `only` when given). Returns the ids newly marked, in no particular order.
/// Concurrent marks are harmless.
pub async fn mark_read(db: &Db, chat_ref: &Id, user: &Id, only: Option<&[Id]>) -> sqlx::Result<Vec<Id>> {
    match only {
        Some([]) => Ok(Vec::new()),
        Some(ids) => {
            let mut sql = mark_read_sql(chat_ref, user);
            sql.push(" AND m.id IN ");
            push_id_list(&mut sql, ids);
            insert_reads(db, sql).await
        }
        None => mark_all_read(db, chat_ref, user).await,
    }
}

/// Marks every message of the chat read, looking only past the participant's watermark, then
/// moves the watermark to the newest message it covered. The watermark moves only after the
/// receipts are stored, so "everything up to it is read" stays true whatever fails between.
async fn mark_all_read(db: &Db, chat_ref: &Id, user: &Id) -> sqlx::Result<Vec<Id>> {
    let bounds = Sql::new(
        "SELECT (SELECT MAX(m.sent_at) FROM messages m WHERE m.chat_ref = $1) AS newest, \
         (SELECT p.read_through FROM chat_participants p WHERE p.chat_ref = $1 AND p.user_id = $2) AS read_through",
    )
    .arg(chat_ref)
    .arg(user);
    let row = db.one(&bounds).await?;
    let Some(newest) = row.text_opt("newest")? else { return Ok(Vec::new()) };
    let read_through = row.text_opt("read_through")?;
    if read_through.as_deref().is_some_and(|through| through >= newest.as_str()) {
        return Ok(Vec::new());
    }
    let mut sql = mark_read_sql(chat_ref, user);
    sql.push(" AND m.sent_at > ").push_bind(read_through.unwrap_or_default());
    sql.push(" AND m.sent_at <= ").push_bind(newest.clone());
    let marked = insert_reads(db, sql).await?;
    let advance = Sql::new(
        "UPDATE chat_participants SET read_through = $1 \
         WHERE chat_ref = $2 AND user_id = $3 AND (read_through IS NULL OR read_through < $1)",
    )
    .arg(newest)
    .arg(chat_ref)
    .arg(user);
    db.exec(&advance).await?;
    Ok(marked)
}

/// Receipts of `user` for the chat's messages it has not read, to be narrowed by the caller.
fn mark_read_sql(chat_ref: &Id, user: &Id) -> Sql {
    let mut sql = Sql::new("INSERT INTO message_reads (message_id, user_id, read_at) SELECT m.id, ");
    sql.push_bind(user).push(", ").push_bind(crate::time::now_iso());
    sql.push(" FROM messages m WHERE m.chat_ref = ").push_bind(chat_ref);
    sql.push(" AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = ");
    sql.push_bind(user);
    sql.push(")");
    sql
}

async fn insert_reads(db: &Db, mut sql: Sql) -> sqlx::Result<Vec<Id>> {
    sql.push(" ON CONFLICT DO NOTHING RETURNING message_id");
    db.all(&sql).await?.iter().map(|r| r.id("message_id")).collect()
}

/// `<caseType>_<caseId>`: the one case chat format every path uses (docs/api.md 2.5).
pub fn case_chat_id(case_type: &str, case_id: &Id) -> String {
    format!("{case_type}_{case_id}")
}

/// The case chat [`find_or_create_case_chat`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChatRow {
    /// The chat's `_id`.
    pub id: Id,
    pub chat_id: String,
    pub created: bool,
    /// The parties that were not participants before (the new lawyer of a reassigned case).
    pub joined: Vec<Id>,
}

/// The chat of an assigned case, `<caseType>_<caseId>`, created active when absent, with the
/// citizen and the lawyer as participants (an existing chat gains whichever it lacks). Runs
/// in the caller's transaction, so an assignment and its chat commit together; safe against
/// a concurrent creator (unique chatId, unique participant).
pub async fn find_or_create_case_chat(
    tx: &mut Tx,
    case_type: &str,
    case_id: &Id,
    citizen: &Id,
    lawyer: &Id,
) -> sqlx::Result<CaseChatRow> {
    let chat_id = case_chat_id(case_type, case_id);
    let now = crate::time::now_iso();
    let created = tx
        .exec(
            &Sql::new(
                "INSERT INTO chats (id, chat_id, chat_type, status, related_case_type, related_case_id, is_active, created_at, \
                 updated_at) VALUES ($1, $2, $3, 'active', $3, $4, $5, $6, $6) ON CONFLICT (chat_id) DO NOTHING",
            )
            .arg(Id::new())
            .arg(&chat_id)
            .arg(case_type)
            .arg(case_id)
            .arg(true)
            .arg(&now),
        )
        .await?
        > 0;
    let id = tx.one(&Sql::new("SELECT id FROM chats WHERE chat_id = $1").arg(&chat_id)).await?.id("id")?;
    let mut joined = Vec::new();
    for (user, role) in [(citizen, "citizen"), (lawyer, "lawyer")] {
        let added = tx
            .exec(
                &Sql::new(
                    "INSERT INTO chat_participants (chat_ref, user_id, role, joined_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (chat_ref, user_id) DO NOTHING",
                )
                .arg(&id)
                .arg(user)
                .arg(role)
                .arg(&now),
            )
            .await?;
        if added > 0 {
            joined.push(user.clone());
        }
    }
    Ok(CaseChatRow { id, chat_id, created, joined })
}

/// One citizen of a lawyer's active direct chats (3.3 #8).
#[derive(Debug, Clone)]
pub struct DirectClient {
    pub citizen: Id,
    pub joined_at: String,
    pub chat_updated_at: String,
    pub chat_id: String,
}

const DIRECT_CLIENTS_FROM: &str = "FROM chats c \
    JOIN chat_participants me ON me.chat_ref = c.id AND me.user_id = $1 \
    JOIN chat_participants other ON other.chat_ref = c.id AND other.user_id <> $1 \
    JOIN users u ON u.id = other.user_id AND u.role = 'citizen' \
    WHERE c.chat_type = 'direct' AND c.status = 'active'";

/// The citizens of a lawyer's active direct chats, most recently updated chat first. A direct
/// chat is unique per pair, so each citizen appears once.
pub async fn direct_clients(db: &Db, lawyer: &Id, page: Page) -> sqlx::Result<Vec<DirectClient>> {
    let mut sql = Sql::new(format!(
        "SELECT other.user_id, other.joined_at, c.updated_at, c.chat_id {DIRECT_CLIENTS_FROM} \
         ORDER BY c.updated_at DESC, c.id DESC"
    ))
    .arg(lawyer);
    sql.push_page(page.limit, page.offset());
    db.all(&sql)
        .await?
        .iter()
        .map(|r| {
            Ok(DirectClient {
                citizen: r.id("user_id")?,
                joined_at: r.text("joined_at")?,
                chat_updated_at: r.text("updated_at")?,
                chat_id: r.text("chat_id")?,
            })
        })
        .collect()
}

pub async fn count_direct_clients(db: &Db, lawyer: &Id) -> sqlx::Result<i64> {
    db.count(&Sql::new(format!("SELECT COUNT(*) {DIRECT_CLIENTS_FROM}")).arg(lawyer)).await
}
