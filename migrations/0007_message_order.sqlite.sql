-- 2.5: within a chat, messages are stored in strictly increasing time, and the newest is the
-- chat's lastMessage. The database keeps both true, so appending a message is one statement;
-- an insert that would not come after the chat's last message fails (the application then
-- retries with a later time under the chat's lock).
CREATE TRIGGER IF NOT EXISTS messages_append AFTER INSERT ON messages
BEGIN
    SELECT RAISE(ABORT, 'nyaya: message not after the chat''s last message')
    WHERE EXISTS (SELECT 1 FROM chats WHERE id = NEW.chat_ref AND last_message_at >= NEW.sent_at);
    UPDATE chats SET last_message_content = NEW.content, last_message_sender = NEW.sender_id,
        last_message_at = NEW.sent_at, updated_at = NEW.sent_at
    WHERE id = NEW.chat_ref;
END
