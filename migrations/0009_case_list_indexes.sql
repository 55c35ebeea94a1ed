-- A citizen's lists and recent activity (newest of one type) and the open pool that lawyers
-- list by default (pending, unassigned, newest first) read their page in index order and count
-- from the index alone, so their cost follows the page, not every case of the citizen or pool.
CREATE INDEX IF NOT EXISTS cases_citizen_type_created ON cases (citizen_id, case_type, created_at, id);
CREATE INDEX IF NOT EXISTS cases_open_pool ON cases (case_type, status, assigned_lawyer_id, created_at, id)
