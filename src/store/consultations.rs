//! Consultations (docs/api.md 2.8). Nested parts that are only read and written whole (fee,
//! meeting details, notes, cancellation...) are JSON documents; what lists and the conflict
//! check filter on (parties, status, time) has its own column.

use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql};
use crate::domain::consultation::{ConsultationStatus, ConsultationType};
use crate::ids::Id;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct Consultation {
    pub id: Id,
    pub title: String,
    pub description: Option<String>,
    pub citizen_id: Id,
    pub lawyer_id: Id,
    pub related_case: Value,
    pub consultation_type: ConsultationType,
    pub status: ConsultationStatus,
    /// Stored as ISO-8601 UTC with milliseconds, so text order is time order.
    pub scheduled_at: Timestamp,
    pub duration: i64,
    pub fee: Value,
    pub meeting_details: Value,
    pub agenda: Value,
    pub notes: Value,
    pub follow_up: Value,
    pub cancellation: Value,
    pub reschedule: Value,
    pub feedback: Value,
    pub reminders: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, title, description, citizen_id, lawyer_id, related_case, consultation_type, status, scheduled_at, \
    duration, fee, meeting_details, agenda, notes, follow_up, cancellation, reschedule, feedback, reminders, created_at, updated_at";

impl Consultation {
    /// A new request with the model's defaults.
    pub fn new(
        title: String,
        description: Option<String>,
        citizen_id: Id,
        lawyer_id: Id,
        consultation_type: ConsultationType,
        scheduled_at: Timestamp,
        duration: i64,
    ) -> Consultation {
        let now = Timestamp::now();
        Consultation {
            id: Id::new(),
            title,
            description,
            citizen_id,
            lawyer_id,
            related_case: Value::Null,
            consultation_type,
            status: ConsultationStatus::Requested,
            scheduled_at,
            duration,
            // The model's defaults. The nested documents stay free-form JSON: imported records
            // carry the original's shapes, served as they are.
            fee: json!({"currency": "INR", "paymentStatus": "pending"}),
            meeting_details: json!({}),
            agenda: json!([]),
            notes: json!({}),
            follow_up: json!({"required": false}),
            cancellation: Value::Null,
            reschedule: Value::Null,
            feedback: Value::Null,
            reminders: json!([]),
            created_at: now,
            updated_at: now,
        }
    }

    fn from_row(row: &AnyRow) -> sqlx::Result<Consultation> {
        Ok(Consultation {
            id: row.id("id")?,
            title: row.text("title")?,
            description: row.text_opt("description")?,
            citizen_id: row.id("citizen_id")?,
            lawyer_id: row.id("lawyer_id")?,
            related_case: row.json("related_case")?,
            consultation_type: row.text("consultation_type")?.parse()?,
            status: row.text("status")?.parse()?,
            scheduled_at: row.timestamp("scheduled_at")?,
            duration: row.int("duration")?,
            fee: row.json("fee")?,
            meeting_details: row.json("meeting_details")?,
            agenda: row.json("agenda")?,
            notes: row.json("notes")?,
            follow_up: row.json("follow_up")?,
            cancellation: row.json("cancellation")?,
            reschedule: row.json("reschedule")?,
            feedback: row.json("feedback")?,
            reminders: row.json("reminders")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }

    /// The meeting details as an object to change (a record without any gets an empty one).
    pub fn meeting_details_mut(&mut self) -> &mut Map<String, Value> {
        object_mut(&mut self.meeting_details)
    }

    /// The notes as an object to change (a record without any gets an empty one).
    pub fn notes_mut(&mut self) -> &mut Map<String, Value> {
        object_mut(&mut self.notes)
    }

    /// Whether a non-empty meeting link is recorded.
    pub fn has_meeting_link(&self) -> bool {
        self.meeting_details.get("meetingLink").and_then(Value::as_str).is_some_and(|l| !l.is_empty())
    }
}

fn object_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("made an object")
}

fn json_text(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

fn bind_all(sql: Sql, c: &Consultation) -> Sql {
    sql.arg(&c.id)
        .arg(&c.title)
        .arg(c.description.clone())
        .arg(&c.citizen_id)
        .arg(&c.lawyer_id)
        .arg(json_text(&c.related_case))
        .arg(c.consultation_type.as_str())
        .arg(c.status.as_str())
        .arg(c.scheduled_at)
        .arg(c.duration)
        .arg(c.fee.to_string())
        .arg(c.meeting_details.to_string())
        .arg(c.agenda.to_string())
        .arg(c.notes.to_string())
        .arg(c.follow_up.to_string())
        .arg(json_text(&c.cancellation))
        .arg(json_text(&c.reschedule))
        .arg(json_text(&c.feedback))
        .arg(c.reminders.to_string())
        .arg(c.created_at)
        .arg(c.updated_at)
}

pub async fn insert(db: &Db, c: &Consultation) -> sqlx::Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO consultations ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
    ));
    db.exec(&bind_all(sql, c)).await.map(|_| ())
}

/// Writes every field back and refreshes `updatedAt`.
pub async fn save(db: &Db, c: &mut Consultation) -> sqlx::Result<()> {
    c.updated_at = Timestamp::now();
    let sql = Sql::new(
        "UPDATE consultations SET title=$2, description=$3, citizen_id=$4, lawyer_id=$5, related_case=$6, \
         consultation_type=$7, status=$8, scheduled_at=$9, duration=$10, fee=$11, meeting_details=$12, agenda=$13, \
         notes=$14, follow_up=$15, cancellation=$16, reschedule=$17, feedback=$18, reminders=$19, created_at=$20, \
         updated_at=$21 WHERE id=$1",
    );
    db.exec(&bind_all(sql, c)).await.map(|_| ())
}

/// Cancels only if the status still allows it (a concurrent change is not overwritten).
pub async fn cancel(db: &Db, c: &mut Consultation, cancellation: Value) -> sqlx::Result<bool> {
    let now = Timestamp::now();
    let mut sql = Sql::new(
        "UPDATE consultations SET status = $1, cancellation = $2, updated_at = $3 WHERE id = $4 AND status IN (",
    )
    .arg(ConsultationStatus::Cancelled.as_str())
    .arg(cancellation.to_string())
    .arg(now)
    .arg(&c.id);
    for (i, s) in ConsultationStatus::CANCELLABLE.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(s.as_str());
    }
    sql.push(")");
    let changed = db.exec(&sql).await? > 0;
    if changed {
        c.status = ConsultationStatus::Cancelled;
        c.cancellation = cancellation;
        c.updated_at = now;
    }
    Ok(changed)
}

pub async fn get(db: &Db, id: &Id) -> sqlx::Result<Option<Consultation>> {
    db.opt(&Sql::new(format!("SELECT {COLUMNS} FROM consultations WHERE id = $1")).arg(id))
        .await?
        .as_ref()
        .map(Consultation::from_row)
        .transpose()
}

/// The two parties of a consultation `(citizen, lawyer)`, for access checks.
pub async fn parties(db: &Db, id: &Id) -> sqlx::Result<Option<(Id, Id)>> {
    let row = db.opt(&Sql::new("SELECT citizen_id, lawyer_id FROM consultations WHERE id = $1").arg(id)).await?;
    row.map(|r| Ok((r.id("citizen_id")?, r.id("lawyer_id")?))).transpose()
}

/// Which side of the consultations a list is about.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    Citizen,
    Lawyer,
}

/// `status` is the list filter's text as given (one outside the set matches nothing).
fn list_where(side: Side, user: &Id, status: Option<&str>) -> Sql {
    let mut sql = Sql::new(match side {
        Side::Citizen => "WHERE citizen_id = ",
        Side::Lawyer => "WHERE lawyer_id = ",
    });
    sql.push_bind(user);
    if let Some(s) = status {
        sql.push(" AND status = ").push_bind(s);
    }
    sql
}

/// One page of a party's consultations, latest scheduled first.
pub async fn list(
    db: &Db,
    side: Side,
    user: &Id,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Consultation>> {
    let mut tail = list_where(side, user, status);
    tail.push(" ORDER BY scheduled_at DESC, id DESC").push_page(limit, offset);
    let sql = Sql::new(format!("SELECT {COLUMNS} FROM consultations ")).append(tail);
    db.all(&sql).await?.iter().map(Consultation::from_row).collect()
}

pub async fn count(db: &Db, side: Side, user: &Id, status: Option<&str>) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM consultations ").append(list_where(side, user, status))).await
}

/// Whether the lawyer has a slot-holding consultation scheduled within `[from, to]` (bound as
/// text of the stored format, so text comparison is time comparison).
pub async fn lawyer_busy(db: &Db, lawyer: &Id, from: Timestamp, to: Timestamp) -> sqlx::Result<bool> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM consultations WHERE lawyer_id = $1 AND scheduled_at >= $2 AND scheduled_at <= $3 AND status IN (")
        .arg(lawyer)
        .arg(from)
        .arg(to);
    for (i, s) in ConsultationStatus::SLOT_HOLDING.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(s.as_str());
    }
    sql.push(")");
    Ok(db.count(&sql).await? > 0)
}
