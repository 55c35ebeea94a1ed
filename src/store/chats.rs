//! Chats, participants, messages and read receipts.
