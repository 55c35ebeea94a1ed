//! Read-only aggregates over cases for the admin dashboards (docs/api.md 3.2 #1, #2) and the
//! public lawyer profile (3.3 #2). Writes to cases belong to `store::cases`.

use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql};
use crate::ids::Id;
use crate::time::Timestamp;

/// Number of cases per `(case_type, status)`.
pub async fn case_counts(db: &Db) -> sqlx::Result<Vec<(String, String, i64)>> {
    let rows = db
        .all(&Sql::new(
            "SELECT case_type, status, COUNT(*) AS n FROM cases GROUP BY case_type, status ORDER BY case_type, status",
        ))
        .await?;
    rows.iter().map(|r| Ok((r.text("case_type")?, r.text("status")?, r.int("n")?))).collect()
}

/// Cases created in `[from, until)`, counted per `(case_type, month "01".."12")`.
pub async fn created_per_month(db: &Db, from: Timestamp, until: Timestamp) -> sqlx::Result<Vec<(String, String, i64)>> {
    let rows = db
        .all(
            &Sql::new(
                "SELECT case_type, SUBSTR(created_at, 6, 2) AS month, COUNT(*) AS n FROM cases \
                 WHERE created_at >= $1 AND created_at < $2 GROUP BY case_type, SUBSTR(created_at, 6, 2)",
            )
            .arg(from)
            .arg(until),
        )
        .await?;
    rows.iter().map(|r| Ok((r.text("case_type")?, r.text("month")?, r.int("n")?))).collect()
}

/// A user in place of a reference: `{_id, name, email}`.
#[derive(Debug, Clone)]
pub struct Party {
    pub id: Id,
    pub name: String,
    pub email: String,
}

/// A case with its citizen and assigned lawyer populated (name, email), as the admin
/// dashboard lists recent activity.
#[derive(Debug, Clone)]
pub struct CaseSummary {
    pub id: Id,
    pub case_type: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub status: String,
    pub priority: String,
    pub citizen: Option<Party>,
    pub lawyer: Option<Party>,
    pub details: Value,
    pub notes: Value,
    pub timeline: Value,
    pub documents: Value,
    pub resolution: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn party(row: &AnyRow, prefix: &str) -> sqlx::Result<Option<Party>> {
    let Some(id) = row.id_opt(&format!("{prefix}_id"))? else { return Ok(None) };
    Ok(Some(Party { id, name: row.text(&format!("{prefix}_name"))?, email: row.text(&format!("{prefix}_email"))? }))
}

impl CaseSummary {
    fn from_row(row: &AnyRow) -> sqlx::Result<CaseSummary> {
        Ok(CaseSummary {
            id: row.id("id")?,
            case_type: row.text("case_type")?,
            title: row.text("title")?,
            description: row.text("description")?,
            category: row.text("category")?,
            status: row.text("status")?,
            priority: row.text("priority")?,
            citizen: party(row, "cit")?,
            lawyer: party(row, "law")?,
            details: row.json("details")?,
            notes: row.json("notes")?,
            timeline: row.json("timeline")?,
            documents: row.json("documents")?,
            resolution: row.json("resolution")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }
}

/// The `limit` newest cases of one type, citizen and assigned lawyer joined in.
pub async fn newest_cases(db: &Db, case_type: &str, limit: i64) -> sqlx::Result<Vec<CaseSummary>> {
    let rows = db
        .all(
            Sql::new(
                "SELECT c.id, c.case_type, c.title, c.description, c.category, c.status, c.priority, c.details, \
                 c.notes, c.timeline, c.documents, c.resolution, c.created_at, c.updated_at, \
                 cu.id AS cit_id, cu.name AS cit_name, cu.email AS cit_email, \
                 lu.id AS law_id, lu.name AS law_name, lu.email AS law_email \
                 FROM cases c LEFT JOIN users cu ON cu.id = c.citizen_id LEFT JOIN users lu ON lu.id = c.assigned_lawyer_id \
                 WHERE c.case_type = $1 ORDER BY c.created_at DESC, c.id DESC",
            )
            .arg(case_type)
            .push_limit(limit),
        )
        .await?;
    rows.iter().map(CaseSummary::from_row).collect()
}

/// A lawyer ranked by resolved queries.
#[derive(Debug, Clone)]
pub struct TopLawyer {
    pub lawyer: Party,
    pub resolved: i64,
}

/// The `limit` lawyers with the most resolved queries (disputes do not count, as in the original).
pub async fn top_lawyers_by_resolved_queries(db: &Db, limit: i64) -> sqlx::Result<Vec<TopLawyer>> {
    let rows = db
        .all(
            Sql::new(
                "SELECT u.id AS law_id, u.name AS law_name, u.email AS law_email, COUNT(*) AS n \
                 FROM cases c JOIN users u ON u.id = c.assigned_lawyer_id \
                 WHERE c.case_type = 'query' AND c.status = 'resolved' \
                 GROUP BY u.id, u.name, u.email ORDER BY COUNT(*) DESC, u.id",
            )
            .push_limit(limit),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let lawyer = party(r, "law")?.ok_or(sqlx::Error::RowNotFound)?;
            Ok(TopLawyer { lawyer, resolved: r.int("n")? })
        })
        .collect()
}

/// `(createdAt, resolvedAt)` of every resolved query that records when it was resolved.
/// `resolvedAt` stays text (see `store::cases::Case::resolved_at`: imported values need not be
/// RFC 3339).
pub async fn resolved_query_spans(db: &Db) -> sqlx::Result<Vec<(Timestamp, String)>> {
    let rows = db
        .all(&Sql::new(
            "SELECT created_at, resolved_at FROM cases \
             WHERE case_type = 'query' AND status = 'resolved' AND resolved_at IS NOT NULL",
        ))
        .await?;
    rows.iter().map(|r| Ok((r.timestamp("created_at")?, r.text("resolved_at")?))).collect()
}

/// Resolved cases assigned to one lawyer: `(queries, disputes)`.
pub async fn resolved_counts_of_lawyer(db: &Db, lawyer: &Id) -> sqlx::Result<(i64, i64)> {
    let rows = db
        .all(
            &Sql::new(
                "SELECT case_type, COUNT(*) AS n FROM cases WHERE assigned_lawyer_id = $1 AND status = 'resolved' \
                 GROUP BY case_type",
            )
            .arg(lawyer),
        )
        .await?;
    let mut counts = (0, 0);
    for r in &rows {
        match r.text("case_type")?.as_str() {
            "query" => counts.0 = r.int("n")?,
            "dispute" => counts.1 = r.int("n")?,
            _ => {}
        }
    }
    Ok(counts)
}
