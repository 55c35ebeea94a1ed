-- Disputes carry both a law `category` (as queries do) and a `disputeType` (docs/api.md 2.4, and
-- the original's dispute validator requires both), so `category` holds the category for both
-- case types and `dispute_type` the dispute's type. `version` is bumped by every write to a
-- case or its request entries: writers check it (optimistic concurrency), so two concurrent
-- acceptances cannot both assign a case.
ALTER TABLE cases ADD COLUMN dispute_type TEXT;
ALTER TABLE cases ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS cases_dispute_type ON cases (dispute_type);
