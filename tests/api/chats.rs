//! Integration tests: chats.
