//! Emails accepted by the transport, by the job that sent them: the record that makes a
//! retried email job send nothing twice.

use crate::db::{Db, Sql, is_unique_violation};

pub async fn exists(db: &Db, job_id: &str) -> sqlx::Result<bool> {
    Ok(db.count(&Sql::new("SELECT COUNT(*) FROM email_deliveries WHERE job_id = $1").arg(job_id)).await? > 0)
}

pub async fn record(db: &Db, job_id: &str, recipient: &str, subject: &str) -> sqlx::Result<()> {
    let insert =
        Sql::new("INSERT INTO email_deliveries (job_id, recipient, subject, delivered_at) VALUES ($1, $2, $3, $4)")
            .arg(job_id)
            .arg(recipient)
            .arg(subject)
            .arg(crate::time::now_iso());
    match db.exec(&insert).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// How many times a job's email was accepted (0 or 1); for tests and audits.
pub async fn count_for_recipient(db: &Db, recipient: &str) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM email_deliveries WHERE recipient = $1").arg(recipient)).await
}
