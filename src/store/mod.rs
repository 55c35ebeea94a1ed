//! The repository layer: SQL behind plain functions over [`crate::db::Db`], one module per
//! aggregate. Services call these; nothing above this layer writes SQL.

pub mod cases;
pub mod chats;
pub mod connections;
pub mod consultations;
pub mod documents;
pub mod email_deliveries;
pub mod relations;
pub mod reports;
pub mod users;
