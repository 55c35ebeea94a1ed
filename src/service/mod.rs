//! Business rules, shared by HTTP handlers and (later) Socket.IO handlers: who may do what,
//! what a write changes, which cache tags it touches and whom to notify.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod background;
pub mod cases;
pub mod chats;
pub mod connections;
pub mod consultations;
pub mod directory;
pub mod documents;
pub mod files;
pub mod people;
pub mod relations;
