//! Types and rules every layer shares, with no I/O: query parameters and pagination, and the
//! closed sets and access rules of cases, and the closed sets of chats, connections,
//! consultations and documents.

pub mod case;
pub mod chat;
pub mod connection;
pub mod consultation;
pub mod document;
pub mod email;
pub mod page;
pub mod password;
pub mod string_enum;
pub mod user;
