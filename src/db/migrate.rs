//! A small migration runner with its own bookkeeping table (`nyaya_migrations`), so job-queue
//! libraries that use sqlx's default `_sqlx_migrations` table can share the database.
//! The same SQL runs on SQLite and PostgreSQL (portable types only).

use anyhow::Context;

use super::{Backend, Db, Sql};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "data model", sql: include_str!("../../migrations/0001_data_model.sql") },
    Migration { version: 2, name: "lawyer education", sql: include_str!("../../migrations/0002_lawyer_education.sql") },
    Migration {
        version: 3,
        name: "case dispute type and version",
        sql: include_str!("../../migrations/0003_case_dispute_type_version.sql"),
    },
    Migration {
        version: 4,
        name: "email confirmation",
        sql: include_str!("../../migrations/0004_email_confirmation.sql"),
    },
    Migration {
        version: 5,
        name: "document processing",
        sql: include_str!("../../migrations/0005_document_processing.sql"),
    },
    Migration { version: 6, name: "email deliveries", sql: include_str!("../../migrations/0006_email_deliveries.sql") },
];

pub(super) async fn run(db: &Db) -> anyhow::Result<usize> {
    db.raw(
        "CREATE TABLE IF NOT EXISTS nyaya_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )
    .await
    .context("creating nyaya_migrations")?;
    let mut applied = 0;
    for m in MIGRATIONS {
        let done = db
            .count(&Sql::new("SELECT COUNT(*) FROM nyaya_migrations WHERE version = $1").arg(m.version))
            .await?;
        if done > 0 {
            continue;
        }
        // Each migration and its bookkeeping row commit together; a concurrent migrator loses
        // on the primary key instead of applying twice.
        let mut tx = db.begin().await?;
        for statement in split_statements(&for_backend(m.sql, db.backend())) {
            tx.exec(&Sql::new(statement.clone()))
                .await
                .with_context(|| format!("migration {} ({}) failed at: {statement}", m.version, m.name))?;
        }
        tx.exec(
            &Sql::new("INSERT INTO nyaya_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .arg(m.version)
                .arg(m.name)
                .arg(crate::time::now_iso()),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}

/// Migrations write `BOOLEAN`; SQLite gets `INTEGER` instead because sqlx's `Any` driver cannot
/// read SQLite's BOOLEAN columns (values are 0/1 either way, and TRUE/FALSE literals work on both).
fn for_backend(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => sql.to_string(),
        Backend::Sqlite => sql.replace("BOOLEAN", "INTEGER"),
    }
}

/// Statements of a migration file: comment lines dropped, split on `;`.
fn split_statements(sql: &str) -> Vec<String> {
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}
