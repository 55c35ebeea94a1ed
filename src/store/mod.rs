//! The repository layer: SQL behind plain functions over [`crate::db::Db`], one module per
//! aggregate. Services call these; nothing above this layer writes SQL.


pub mod users;
pub mod cases;
pub mod connections;
pub mod chats;
pub mod documents;
pub mod consultations;
pub mod reports;
pub mod relations;
pub mod email_deliveries;
