-- Email-address confirmation: every registration emails a single-use token. As with password
-- reset tokens, only the token's SHA-256 digest is stored, with its expiry; both are cleared when
-- the token is redeemed, which sets email_confirmed_at. Accounts from before this migration stay
-- unconfirmed (confirmation gates nothing).
ALTER TABLE users ADD COLUMN email_confirmed_at TEXT;
ALTER TABLE users ADD COLUMN email_confirmation_hash TEXT;
ALTER TABLE users ADD COLUMN email_confirmation_expires TEXT;
CREATE INDEX IF NOT EXISTS users_email_confirmation_hash ON users (email_confirmation_hash);
