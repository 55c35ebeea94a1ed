//! The one way the platform sends email. Two transports: SMTP (`SMTP_URL`, pooled lettre) and,
//! by default, `.eml` files in `<data>/outbox/` plus a log line, so development needs no server.

pub mod templates;

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A rendered message, ready for a transport.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf, from: &str) -> anyhow::Result<Mailer> {
        let from: Mailbox = from.parse().with_context(|| format!("EMAIL_FROM {from:?} is not a mailbox"))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
                    .build(),
            ),
            None => Transport::Outbox(outbox),
        };
        Ok(Mailer { transport, from })
    }

    pub fn transport_name(&self) -> &'static str {
        match self.transport {
            Transport::Outbox(_) => "outbox",
            Transport::Smtp(_) => "smtp",
        }
    }

    fn build(&self, email: &Email) -> anyhow::Result<Message> {
        let to: Mailbox = email.to.parse().with_context(|| "recipient is not a valid address")?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .context("building message")
    }

    pub async fn send(&self, email: &Email) -> anyhow::Result<()> {
        let message = self.build(email)?;
        match &self.transport {
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
                let name =
                    format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), crate::ids::random_hex(4));
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(to = %email.to, subject = %email.subject, path = %path.display(), "email written to outbox");
            }
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("SMTP delivery failed")?;
                tracing::info!(to = %email.to, subject = %email.subject, "email sent over SMTP");
            }
        }
        Ok(())
    }

    /// Sends and logs a failure instead of returning it: an email problem never changes the
    /// outcome of the request that caused it.
    pub async fn send_logged(&self, email: &Email) {
        if let Err(err) = self.send(email).await {
            tracing::error!(to = %email.to, subject = %email.subject, error = %format!("{err:#}"), "email not sent");
        }
    }
}
