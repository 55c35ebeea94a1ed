-- 2.5 unread counts and "mark all read": each participant keeps the time of the newest message
-- it has read everything up to (every message of the chat at or before it has the
-- participant's read receipt). Counting unread messages and marking a chat read then look only
-- at the messages after it, not at the chat's whole history. NULL: nothing known yet.
ALTER TABLE chat_participants ADD COLUMN read_through TEXT
