-- 2.5: within a chat, messages are stored in strictly increasing time, and the newest is the
-- chat's lastMessage. The database keeps both true, so appending a message is one statement;
-- an insert that would not come after the chat's last message fails (the application then
-- retries with a later time under the chat's lock). The UPDATE takes the chat row's lock, so
-- concurrent inserts into one chat are ordered by it and re-checked against each other.
CREATE OR REPLACE FUNCTION nyaya_message_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chats SET last_message_content = NEW.content, last_message_sender = NEW.sender_id,
        last_message_at = NEW.sent_at, updated_at = NEW.sent_at
    WHERE id = NEW.chat_ref AND (last_message_at IS NULL OR last_message_at < NEW.sent_at);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'nyaya: message not after the chat''s last message';
    END IF;
    RETURN NULL;
END
$$
-- end of statement
DROP TRIGGER IF EXISTS messages_append ON messages
-- end of statement
CREATE TRIGGER messages_append AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION nyaya_message_appended()
