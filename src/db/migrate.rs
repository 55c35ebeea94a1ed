//! A small migration runner with its own bookkeeping table (`nyaya_migrations`), so job-queue
//! libraries that use sqlx's default `_sqlx_migrations` table can share the database.
//! The same SQL runs on SQLite and PostgreSQL (portable types only), except where the two
//! engines have no common syntax (triggers): such a migration has a file per engine.

use anyhow::Context;

use super::{Backend, Db, Sql};

struct Migration {
    version: i64,
    name: &'static str,
    sql: Source,
}

enum Source {
    /// One file for both engines, statements split on `;`.
    Portable(&'static str),
    /// A file per engine whose statements (bodies with `;` of their own) end at a line
    /// `-- end of statement`.
    PerEngine { sqlite: &'static str, postgres: &'static str },
}

impl Source {
    fn statements(&self, backend: Backend) -> Vec<String> {
        match (self, backend) {
            (Source::Portable(sql), _) => split_statements(&for_backend(sql, backend)),
            (Source::PerEngine { sqlite, .. }, Backend::Sqlite) => split_marked(sqlite),
            (Source::PerEngine { postgres, .. }, Backend::Postgres) => split_marked(postgres),
        }
    }
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "data model",
        sql: Source::Portable(include_str!("../../migrations/0001_data_model.sql")),
    },
    Migration {
        version: 2,
        name: "lawyer education",
        sql: Source::Portable(include_str!("../../migrations/0002_lawyer_education.sql")),
    },
    Migration {
        version: 3,
        name: "case dispute type and version",
        sql: Source::Portable(include_str!("../../migrations/0003_case_dispute_type_version.sql")),
    },
    Migration {
        version: 4,
        name: "email confirmation",
        sql: Source::Portable(include_str!("../../migrations/0004_email_confirmation.sql")),
    },
    Migration {
        version: 5,
        name: "document processing",
        sql: Source::Portable(include_str!("../../migrations/0005_document_processing.sql")),
    },
    Migration {
        version: 6,
        name: "email deliveries",
        sql: Source::Portable(include_str!("../../migrations/0006_email_deliveries.sql")),
    },
    Migration {
        version: 7,
        name: "message order and last message kept by the database",
        sql: Source::PerEngine {
            sqlite: include_str!("../../migrations/0007_message_order.sqlite.sql"),
            postgres: include_str!("../../migrations/0007_message_order.postgres.sql"),
        },
    },
    Migration {
        version: 8,
        name: "read watermark per chat participant",
        sql: Source::Portable(include_str!("../../migrations/0008_read_watermark.sql")),
    },
    Migration {
        version: 9,
        name: "case list indexes",
        sql: Source::Portable(include_str!("../../migrations/0009_case_list_indexes.sql")),
    },
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
        let done =
            db.count(&Sql::new("SELECT COUNT(*) FROM nyaya_migrations WHERE version = $1").arg(m.version)).await?;
        if done > 0 {
            continue;
        }
        // Each migration and its bookkeeping row commit together; a concurrent migrator loses
        // on the primary key instead of applying twice.
        let mut tx = db.begin().await?;
        for statement in m.sql.statements(db.backend()) {
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
    without_comments(sql).split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Statements of an engine's own file: each ends at a line `-- end of statement`.
fn split_marked(sql: &str) -> Vec<String> {
    let statements = sql.split("\n-- end of statement\n");
    statements.map(|s| without_comments(s).trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn without_comments(sql: &str) -> String {
    sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n")
}
