//! Business rules, shared by HTTP handlers and (later) Socket.IO handlers: who may do what,
//! what a write changes, which cache tags it touches and whom to notify.

pub mod access;
pub mod accounts;
pub mod background;
pub mod people;
pub mod relations;
pub mod admin;
pub mod directory;
pub mod cases;
pub mod connections;
pub mod chats;
pub mod documents;
pub mod files;
pub mod consultations;
