-- Emails accepted by the mail transport, keyed by the job that sent them (idempotent retries).
CREATE TABLE email_deliveries (
    job_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    delivered_at TEXT NOT NULL
);
CREATE INDEX email_deliveries_recipient ON email_deliveries (recipient);
