//! Documents: their closed sets.

use super::chat::ChatType;
use super::string_enum::string_enum;

string_enum!(
    /// Where a document stands: `processing` until its content is checked, then `active` (or
    /// `rejected`, with a reason); `archived` and `deleted` come from imported records.
    DocumentStatus, "document status" {
        Processing = "processing",
        Active = "active",
        Rejected = "rejected",
        Archived = "archived",
        Deleted = "deleted",
    }
);

string_enum!(
    /// What a document belongs to: a direct connection, a query or a dispute.
    DocumentType, "document type" { Direct = "direct", Query = "query", Dispute = "dispute" }
);

impl DocumentType {
    /// The model of the entity a document of this type belongs to.
    pub fn related_model(self) -> RelatedModel {
        match self {
            DocumentType::Direct => RelatedModel::DirectConnection,
            DocumentType::Query => RelatedModel::Query,
            DocumentType::Dispute => RelatedModel::Dispute,
        }
    }
}

string_enum!(
    /// The model name stored as `relatedModel`: the entity's, or `Chat` for a chat's file
    /// whose case or connection is not known.
    RelatedModel, "related model" {
        DirectConnection = "DirectConnection",
        Query = "Query",
        Dispute = "Dispute",
        Chat = "Chat",
    }
);

string_enum!(
    /// What a document is.
    DocumentCategory, "document category" {
        Evidence = "evidence",
        Contract = "contract",
        Agreement = "agreement",
        LegalNotice = "legal_notice",
        CourtOrder = "court_order",
        Affidavit = "affidavit",
        PowerOfAttorney = "power_of_attorney",
        IdentityProof = "identity_proof",
        AddressProof = "address_proof",
        FinancialDocument = "financial_document",
        Correspondence = "correspondence",
        Other = "other",
    }
);

/// A chat's files belong to what the chat is about: its case, or the direct connection.
impl From<ChatType> for DocumentType {
    fn from(chat_type: ChatType) -> DocumentType {
        match chat_type {
            ChatType::Direct => DocumentType::Direct,
            ChatType::Query => DocumentType::Query,
            ChatType::Dispute => DocumentType::Dispute,
        }
    }
}
