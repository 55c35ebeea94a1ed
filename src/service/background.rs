//! What each job queue does, and the one way services send an email (queued, or inline as
//! `EMAIL_MODE=inline` asks).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::EmailMode;
use crate::jobs::runner::{Handler, JobError};
use crate::jobs::{Claimed, Queue, When};
use crate::mail::Email;
use crate::state::AppState;
use crate::store::email_deliveries;

/// The handlers of every queue, for `nyaya serve` and `nyaya worker`.
pub fn all(state: &AppState, queues: &[Queue]) -> Vec<(Queue, Arc<dyn Handler>)> {
    queues
        .iter()
        .map(|&queue| {
            let handler: Arc<dyn Handler> = match queue {
                Queue::Email => Arc::new(SendEmail { state: state.clone() }),
                Queue::Files => Arc::new(ProcessFile { state: state.clone() }),
                Queue::Noop => Arc::new(Noop),
            };
            (queue, handler)
        })
        .collect()
}

/// An `email` job: a rendered message. Its job id is the idempotency key.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailJob {
    pub email: Email,
}

struct SendEmail {
    state: AppState,
}

#[async_trait]
impl Handler for SendEmail {
    async fn run(&self, job: &Claimed) -> Result<(), JobError> {
        let EmailJob { email } = serde_json::from_str(&job.payload).map_err(JobError::fatal)?;
        let db = &self.state.db;
        // A retry after the SMTP server accepted the message (then the worker died, or its
        // outcome was not recorded) must not send it again.
        if email_deliveries::exists(db, &job.id).await.map_err(JobError::retry)? {
            tracing::info!(job = %job.id, "email already delivered; not sending again");
            return Ok(());
        }
        self.state.mailer.send(&email).await.map_err(|e| JobError::retry(format!("{e:#}")))?;
        if let Err(e) = email_deliveries::record(db, &job.id, &email.to, &email.subject).await {
            // Sent: completing the job is right; a retry would send a second copy.
            tracing::error!(job = %job.id, error = %e, "email sent but its delivery record was not stored");
        }
        Ok(())
    }
}

/// A `files` job: an uploaded document to check and finish.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileJob {
    pub document_id: crate::ids::Id,
}

struct ProcessFile {
    state: AppState,
}

#[async_trait]
impl Handler for ProcessFile {
    async fn run(&self, job: &Claimed) -> Result<(), JobError> {
        let FileJob { document_id } = serde_json::from_str(&job.payload).map_err(JobError::fatal)?;
        crate::service::files::process_document(&self.state, &document_id)
            .await
            .map(|_| ())
            .map_err(|e| JobError::retry(format!("{e:#}")))
    }
}

struct Noop;

#[async_trait]
impl Handler for Noop {
    async fn run(&self, _job: &Claimed) -> Result<(), JobError> {
        Ok(())
    }
}

/// The one call site services use to send an email; it never fails the request that caused
/// it. Queued by default (a worker sends it, retrying); `EMAIL_MODE=inline` sends it before
/// the request answers, as the original did.
pub async fn send_email(state: &AppState, email: Email) {
    if state.config.email_mode == EmailMode::Inline {
        return state.mailer.send_logged(&email).await;
    }
    let job = EmailJob { email };
    if let Err(e) = state.jobs.enqueue(Queue::Email, &job, When::Now).await {
        // Better a send without retries than none: the request still answers at once.
        tracing::error!(error = %format!("{e:#}"), to = %job.email.to, "email queue unavailable; sending from this process instead");
        let mailer = state.mailer.clone();
        tokio::spawn(async move { mailer.send_logged(&job.email).await });
    }
}
