-- The directory searches a lawyer's education (docs/api.md 3.3 #1). lawyer_details is JSON text,
-- and a LIKE over that text would also match its keys, so education gets its own column,
-- written together with lawyer_details by store::users::insert/save.
-- Rows saved before this migration keep NULL until their next save.
ALTER TABLE users ADD COLUMN education TEXT
