-- Uploads are recorded as `processing` and checked by a background job, which marks them
-- `active` or `rejected`; the reason of a rejection is kept for the uploader to see.
-- (thumbnail_key exists since 0001.)
ALTER TABLE documents ADD COLUMN status_reason TEXT
