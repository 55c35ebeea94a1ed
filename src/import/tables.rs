//! The rows an import writes: nyaya's tables and the columns the import fills (the rest keep
//! their defaults: no sessions, no reset or confirmation tokens, `version` 0).

use crate::db::Param;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Users,
    LawyerSpecializations,
    DirectConnections,
    Cases,
    CaseRequests,
    Chats,
    ChatParticipants,
    Messages,
    MessageReads,
    Documents,
    DocumentAccess,
    Consultations,
}

impl Table {
    pub const ALL: [Table; 12] = [
        Table::Users,
        Table::LawyerSpecializations,
        Table::DirectConnections,
        Table::Cases,
        Table::CaseRequests,
        Table::Chats,
        Table::ChatParticipants,
        Table::Messages,
        Table::MessageReads,
        Table::Documents,
        Table::DocumentAccess,
        Table::Consultations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::LawyerSpecializations => "lawyer_specializations",
            Table::DirectConnections => "direct_connections",
            Table::Cases => "cases",
            Table::CaseRequests => "case_requests",
            Table::Chats => "chats",
            Table::ChatParticipants => "chat_participants",
            Table::Messages => "messages",
            Table::MessageReads => "message_reads",
            Table::Documents => "documents",
            Table::DocumentAccess => "document_access",
            Table::Consultations => "consultations",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Users => &[
                "id",
                "name",
                "email",
                "password_hash",
                "role",
                "phone",
                "address",
                "profile_picture",
                "is_verified",
                "is_active",
                "profile_completion",
                "lawyer_details",
                "student_details",
                "connections",
                "message_requests",
                "created_at",
                "updated_at",
                "verification_status",
                "experience",
                "education",
            ],
            Table::LawyerSpecializations => &["user_id", "specialization"],
            Table::DirectConnections => &[
                "id",
                "citizen_id",
                "lawyer_id",
                "status",
                "request_message",
                "requested_at",
                "responded_at",
                "response_message",
                "chat_id",
                "metadata",
                "is_active",
                "created_at",
                "updated_at",
            ],
            Table::Cases => &[
                "id",
                "case_type",
                "title",
                "description",
                "category",
                "dispute_type",
                "status",
                "priority",
                "citizen_id",
                "assigned_lawyer_id",
                "details",
                "notes",
                "timeline",
                "documents",
                "resolution",
                "resolved_at",
                "created_at",
                "updated_at",
            ],
            Table::CaseRequests => &[
                "id",
                "case_id",
                "direction",
                "lawyer_id",
                "requested_by",
                "status",
                "message",
                "proposed_fee",
                "estimated_duration",
                "requested_at",
                "responded_at",
            ],
            Table::Chats => &[
                "id",
                "chat_id",
                "chat_type",
                "status",
                "related_case_type",
                "related_case_id",
                "direct_connection_id",
                "last_message_content",
                "last_message_sender",
                "last_message_at",
                "is_active",
                "created_at",
                "updated_at",
            ],
            Table::ChatParticipants => &["chat_ref", "user_id", "role", "joined_at"],
            Table::Messages => &[
                "id",
                "chat_ref",
                "sender_id",
                "content",
                "message_type",
                "file_data",
                "attachments",
                "sent_at",
                "edited_at",
                "is_deleted",
            ],
            Table::MessageReads => &["message_id", "user_id", "read_at"],
            Table::Documents => &[
                "id",
                "original_name",
                "content_hash",
                "storage_key",
                "mime_type",
                "url",
                "size",
                "document_type",
                "related_id",
                "related_model",
                "uploaded_by",
                "uploaded_by_role",
                "description",
                "tags",
                "document_category",
                "is_verified",
                "verified_by",
                "verified_at",
                "metadata",
                "status",
                "uploaded_at",
                "last_accessed_at",
                "created_at",
                "updated_at",
            ],
            Table::DocumentAccess => &["document_id", "user_id", "role"],
            Table::Consultations => &[
                "id",
                "title",
                "description",
                "citizen_id",
                "lawyer_id",
                "related_case",
                "consultation_type",
                "status",
                "scheduled_at",
                "duration",
                "fee",
                "meeting_details",
                "agenda",
                "notes",
                "follow_up",
                "cancellation",
                "reschedule",
                "feedback",
                "reminders",
                "created_at",
                "updated_at",
            ],
        }
    }

    /// How a column's placeholder is written: floats travel as text and are cast in SQL (the
    /// `Any` driver binds a NULL f64 as float4 on PostgreSQL, and a prepared statement then
    /// refuses the next non-NULL value).
    pub fn placeholder(self, column: &str, n: usize) -> String {
        match (self, column) {
            (Table::CaseRequests, "proposed_fee") => format!("CAST(${n} AS DOUBLE PRECISION)"),
            _ => format!("${n}"),
        }
    }
}

/// One row for a table, its values in [`Table::columns`] order.
#[derive(Debug, Clone)]
pub struct Row {
    pub table: Table,
    pub values: Vec<Param>,
}

/// Text or NULL, typed.
pub fn text(v: Option<String>) -> Param {
    Param::Text(v)
}

pub fn int(v: Option<i64>) -> Param {
    Param::Int(v)
}
