//! `nyaya import-mongo`: dumps shaped as the original's Mongoose models and controllers write
//! them (ObjectIds and hex strings, documents from before and after later schema changes,
//! chats created by its socket handlers, its own data quirks) are imported, and the API then
//! serves what the dump held: old passwords sign in (and are upgraded), dashboards, chats
//! with their messages and read receipts, cases, documents and consultations.

use std::path::{Path, PathBuf};

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};
use nyaya::db::{RowExt, Sql};
use nyaya::import::{Options, Stopped};
use serde_json::Value;

use crate::helpers::{TestApp, spawn, temp_dir};

fn oid(hex: &str) -> ObjectId {
    ObjectId::parse_str(hex).unwrap()
}

/// A date with milliseconds, as Mongo stores JavaScript dates.
fn date(iso: &str) -> DateTime {
    DateTime::parse_rfc3339_str(iso).unwrap()
}

/// bcryptjs hashes: cost 10, `$2a$` (bcryptjs' prefix) or `$2b$`.
fn bcrypt_hash(password: &str, version: bcrypt::Version) -> String {
    bcrypt::hash_with_result(password, 10).unwrap().format_for_version(version)
}

// Ids of the fixture (24-hex, as the frontend stores them).
const ASHA: &str = "65f1a0000000000000000001";
const VIKRAM: &str = "65f1a0000000000000000002";
const MEERA: &str = "65f1a0000000000000000003";
const KABIR: &str = "65f1a0000000000000000004";
const ADMIN: &str = "65f1a0000000000000000005";
const RAVI: &str = "65f1a0000000000000000006";
const RIYA: &str = "65f1a0000000000000000007";
const BROKEN_EMAIL: &str = "65f1a0000000000000000008";
const ODD_ROLE: &str = "65f1a0000000000000000009";
const GONE: &str = "65f1a00000000000000000ff";
const CONNECTION: &str = "65f1b0000000000000000001";
const CONNECTION_RAVI: &str = "65f1b0000000000000000002";
const QUERY: &str = "65f1c0000000000000000001";
const QUERY_ORPHAN: &str = "65f1c0000000000000000002";
const QUERY_OPEN: &str = "65f1c0000000000000000003";
const DISPUTE: &str = "65f1d0000000000000000001";
const DIRECT_CHAT: &str = "65f1e0000000000000000001";
const CASE_CHAT: &str = "65f1e0000000000000000002";
const GHOST_CHAT: &str = "65f1e0000000000000000003";
const DOC_DIRECT: &str = "65f1f0000000000000000001";
const DOC_QUERY: &str = "65f1f0000000000000000002";
const CONSULTATION: &str = "65f2a0000000000000000001";
const IPFS: &str = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
const IPFS_2: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

/// The collections of a dump.
struct Fixture {
    collections: Vec<(&'static str, Vec<Document>)>,
}

/// Everything the original's models and controllers write, with its quirks.
fn fixture() -> Fixture {
    let asha_hash = bcrypt_hash("OldPass1", bcrypt::Version::TwoA);
    let vikram_hash = bcrypt_hash("LawPass9", bcrypt::Version::TwoB);
    let riya_hash = bcrypt_hash("Riya2024", bcrypt::Version::TwoA);
    let users = vec![
        // A citizen registered before the law-student commit (still has `aadhaar`), with the
        // tokens the original keeps (not carried) and a legacy message-request throttle entry.
        doc! {
            "_id": oid(ASHA), "name": "Asha Rao", "email": "asha@example.in", "password": asha_hash, "role": "citizen",
            "phone": "9876543210", "aadhaar": "123412341234",
            "address": {"street": "12 MG Road", "city": "Pune", "state": "MH", "pincode": "411001"},
            "profilePicture": Bson::Null, "isVerified": true, "isActive": true,
            "refreshToken": "eyJhbGciOiJIUzI1NiJ9.old.refresh", "passwordResetToken": "a".repeat(64),
            "passwordResetExpires": date("2024-03-01T10:10:00.000Z"),
            "profileCompletion": {"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true},
            "messageRequests": [{"toUserId": oid(VIKRAM), "timestamp": date("2024-03-02T09:00:00.250Z"), "_id": oid("65f1a1000000000000000001")}],
            "directConnections": [], "connections": [],
            "createdAt": date("2024-03-01T10:00:00.123Z"), "updatedAt": date("2024-03-05T08:30:00.456Z"), "__v": 0,
        },
        doc! {
            "_id": oid(VIKRAM), "name": "Vikram Shah", "email": "vikram@lawfirm.in", "password": vikram_hash, "role": "lawyer",
            "phone": "9123456780", "profilePicture": Bson::Null, "isVerified": true, "isActive": true,
            "profileCompletion": {"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": false},
            "lawyerDetails": {
                "barRegistrationNumber": "MH/1234/2015", "specialization": ["Property Law", "Civil Law"], "experience": 7,
                "education": "LLB, ILS Pune", "verificationStatus": "verified", "verificationDocuments": [],
                "verificationNotes": "Bar council record checked", "consultationFee": 1500, "practiceAreas": [], "courtAdmissions": [],
            },
            "messageRequests": [], "directConnections": [],
            "connections": [{"userId": oid(ASHA), "connectionType": "client", "connectedAt": date("2024-03-03T11:00:00.000Z"), "_id": oid("65f1a1000000000000000002")}],
            "createdAt": date("2024-02-20T12:00:00.001Z"), "updatedAt": date("2024-03-03T11:00:00.000Z"), "__v": 0,
        },
        // The original's verify-all utility set isVerified without touching verificationStatus.
        doc! {
            "_id": oid(MEERA), "name": "Meera Iyer", "email": "meera@lawfirm.in", "password": bcrypt_hash("Meera123", bcrypt::Version::TwoB),
            "role": "lawyer", "isVerified": true, "isActive": true,
            "lawyerDetails": {"specialization": ["General Practice"], "experience": 0, "education": "Law Graduate", "verificationStatus": "pending"},
            "profileCompletion": {"basicInfo": true, "roleSpecificDetails": false, "documentsUploaded": false},
            "createdAt": date("2024-02-25T12:00:00.000Z"), "updatedAt": date("2024-02-25T12:00:00.000Z"),
        },
        // A law student: fields added by a later commit.
        doc! {
            "_id": oid(KABIR), "name": "Kabir Das", "email": "kabir@nls.ac.in", "password": bcrypt_hash("Student1", bcrypt::Version::TwoA),
            "role": "law_student", "isVerified": true, "isActive": true,
            "studentDetails": {"universityName": "NLS Bangalore", "enrollmentYear": 2023, "semester": "3rd", "specialization": "Constitutional", "rollNumber": "NLS-23-77"},
            "createdAt": date("2025-11-18T06:00:00.000Z"), "updatedAt": date("2025-11-18T06:00:00.000Z"),
        },
        // An admin from create-admin.js (no profileCompletion).
        doc! {
            "_id": oid(ADMIN), "name": "System Administrator", "email": "admin@chainverdict.in", "password": bcrypt_hash("Admin@123", bcrypt::Version::TwoA),
            "role": "admin", "isVerified": true, "isActive": true, "createdAt": date("2024-01-01T00:00:00.000Z"), "updatedAt": date("2024-01-01T00:00:00.000Z"),
        },
        // Mixed id formats: an _id written as a hex string.
        doc! {
            "_id": RAVI, "name": "Ravi Kumar", "email": "ravi@example.in", "password": bcrypt_hash("Ravi1234", bcrypt::Version::TwoA),
            "role": "citizen", "isVerified": true, "isActive": true, "createdAt": date("2024-03-10T10:00:00.000Z"), "updatedAt": date("2024-03-10T10:00:00.000Z"),
        },
        // An address a seed script wrote without normalizing it.
        doc! {
            "_id": oid(RIYA), "name": "Riya Sen", "email": "riya.sen@gmail.com", "password": riya_hash, "role": "citizen",
            "isVerified": true, "isActive": true, "createdAt": date("2024-03-11T10:00:00.000Z"), "updatedAt": date("2024-03-11T10:00:00.000Z"),
        },
        // Documents that break nyaya's rules.
        doc! {
            "_id": oid(BROKEN_EMAIL), "name": "Broken Email", "email": "broken-at-example", "password": bcrypt_hash("Broken12", bcrypt::Version::TwoA),
            "role": "citizen", "createdAt": date("2024-03-12T10:00:00.000Z"), "updatedAt": date("2024-03-12T10:00:00.000Z"),
        },
        doc! {
            "_id": oid(ODD_ROLE), "name": "Odd Role", "email": "odd@example.in", "password": bcrypt_hash("OddRole1", bcrypt::Version::TwoA),
            "role": "superuser", "createdAt": date("2024-03-12T11:00:00.000Z"), "updatedAt": date("2024-03-12T11:00:00.000Z"),
        },
    ];

    let connections = vec![
        doc! {
            "_id": oid(CONNECTION), "citizen": oid(ASHA), "lawyer": oid(VIKRAM), "status": "accepted",
            "requestMessage": "Need help with my tenancy deposit.", "requestedAt": date("2024-03-02T09:00:00.300Z"),
            "respondedAt": date("2024-03-02T10:00:00.000Z"), "responseMessage": "Happy to help.",
            "chatId": format!("direct_{ASHA}_{VIKRAM}"),
            "metadata": {"lawyerSpecialization": [], "connectionType": "general_consultation"},
            "isActive": true, "createdAt": date("2024-03-02T09:00:00.300Z"), "updatedAt": date("2024-03-02T10:00:00.000Z"), "__v": 0,
        },
        // The pending request from the citizen with the string id (written as an ObjectId).
        doc! {
            "_id": oid(CONNECTION_RAVI), "citizen": oid(RAVI), "lawyer": oid(VIKRAM), "status": "pending",
            "requestMessage": "Please review my sale deed.", "requestedAt": date("2024-03-10T11:00:00.000Z"),
            "metadata": {"connectionType": "specific_case"}, "isActive": true,
            "createdAt": date("2024-03-10T11:00:00.000Z"), "updatedAt": date("2024-03-10T11:00:00.000Z"),
        },
    ];

    let queries = vec![
        doc! {
            "_id": oid(QUERY), "title": "Deposit not returned", "description": "My landlord keeps my deposit of Rs 60,000.",
            "category": "property", "status": "assigned", "priority": "high", "citizen": oid(ASHA), "assignedLawyer": oid(VIKRAM),
            "lawyerRequests": [{"lawyerId": oid(VIKRAM), "status": "accepted", "requestedAt": date("2024-03-04T09:00:00.010Z"),
                "respondedAt": date("2024-03-04T10:00:00.020Z"), "message": "I handle tenancy matters.", "_id": oid("65f1c1000000000000000001")}],
            "citizenRequests": [{"lawyerId": oid(MEERA), "status": "pending", "requestedAt": date("2024-03-04T08:00:00.000Z"),
                "message": "I would like to request your assistance with this query", "_id": oid("65f1c1000000000000000002")}],
            "documents": [],
            "notes": [{"author": oid(VIKRAM), "content": "Asked for the rent agreement.", "createdAt": date("2024-03-04T11:00:00.000Z"), "_id": oid("65f1c1000000000000000003")}],
            "timeline": [
                {"action": "created", "description": "Query created", "performedBy": oid(ASHA), "timestamp": date("2024-03-04T07:00:00.000Z"), "_id": oid("65f1c1000000000000000004")},
                {"action": "status_change", "description": "Status changed to assigned", "timestamp": date("2024-03-04T10:00:00.021Z"), "_id": oid("65f1c1000000000000000005")},
            ],
            "createdAt": date("2024-03-04T07:00:00.000Z"), "updatedAt": date("2024-03-04T10:00:00.021Z"), "__v": 2,
        },
        // Its citizen is not in the dump: no safe reading.
        doc! {
            "_id": oid(QUERY_ORPHAN), "title": "Orphan", "description": "Citizen deleted", "category": "civil",
            "status": "pending", "priority": "medium", "citizen": oid(GONE),
            "createdAt": date("2024-03-05T07:00:00.000Z"), "updatedAt": date("2024-03-05T07:00:00.000Z"),
        },
        // A status the model's enum does not have ("open", which the controllers test for).
        doc! {
            "_id": oid(QUERY_OPEN), "title": "Cheque bounced", "description": "A cheque of Rs 20,000 bounced.",
            "category": "civil", "status": "open", "priority": "medium", "citizen": oid(ASHA), "assignedLawyer": Bson::Null,
            "lawyerRequests": [], "citizenRequests": [], "documents": [], "notes": [], "timeline": [],
            "createdAt": date("2024-03-06T07:00:00.000Z"), "updatedAt": date("2024-03-06T07:00:00.000Z"),
        },
    ];

    let disputes = vec![doc! {
        "_id": oid(DISPUTE), "title": "Boundary wall", "description": "Neighbour built on my land.",
        "disputeType": "property", "category": "property", "status": "pending", "priority": "urgent", "citizen": oid(ASHA),
        "assignedLawyer": Bson::Null,
        "lawyerRequests": [{"lawyerId": oid(VIKRAM), "status": "pending", "requestedAt": date("2024-03-07T09:00:00.000Z"), "message": "I can help.", "_id": oid("65f1d1000000000000000001")}],
        "citizenRequests": [],
        "opposingParty": {"name": "S. Patil", "contact": "9000011111", "address": "Plot 7"}, "disputeValue": 250000,
        "documents": [],
        "hearingDates": [{"date": date("2024-04-01T04:30:00.000Z"), "time": "10:00", "venue": "Civil Court, Pune", "purpose": "First hearing", "status": "scheduled", "_id": oid("65f1d1000000000000000002")}],
        "timeline": [{"action": "created", "description": "Dispute created", "performedBy": oid(ASHA), "timestamp": date("2024-03-07T08:00:00.000Z"), "_id": oid("65f1d1000000000000000003")}],
        "notes": [{"author": oid(ASHA), "content": "Survey map attached.", "isPrivate": false, "createdAt": date("2024-03-07T08:30:00.000Z"), "_id": oid("65f1d1000000000000000004")}],
        "createdAt": date("2024-03-07T08:00:00.000Z"), "updatedAt": date("2024-03-07T09:00:00.000Z"),
    }];

    let direct_chat_id = format!("direct_{ASHA}_{VIKRAM}");
    let chats = vec![
        doc! {
            "_id": oid(DIRECT_CHAT), "chatId": &direct_chat_id,
            "participants": [
                {"user": oid(ASHA), "role": "citizen", "joinedAt": date("2024-03-02T10:00:00.000Z"), "_id": oid("65f1e1000000000000000001")},
                {"user": oid(VIKRAM), "role": "lawyer", "joinedAt": date("2024-03-02T10:00:00.000Z"), "_id": oid("65f1e1000000000000000002")},
            ],
            "chatType": "direct", "status": "active", "directConnection": oid(CONNECTION),
            "messages": [
                {"sender": oid(ASHA), "content": "Hello, the landlord refuses to return the deposit.", "messageType": "text",
                 "attachments": [], "isRead": [{"user": oid(VIKRAM), "readAt": date("2024-03-02T10:06:00.789Z"), "_id": oid("65f1e2000000000000000001")}],
                 "timestamp": date("2024-03-02T10:05:00.111Z"), "isDeleted": false, "_id": oid("65f1e3000000000000000001")},
                // A file message (fileData, a field added by a later commit).
                {"sender": oid(VIKRAM), "content": "File attachment", "messageType": "file",
                 "fileData": {"ipfsHash": IPFS, "originalName": "rent-agreement.pdf", "mimeType": "application/pdf", "size": 2048,
                              "url": format!("https://gateway.pinata.cloud/ipfs/{IPFS}"), "documentId": oid(DOC_DIRECT)},
                 "attachments": [], "isRead": [], "timestamp": date("2024-03-02T10:07:00.222Z"), "isDeleted": false, "_id": oid("65f1e3000000000000000002")},
                // The same millisecond as the message before it.
                {"sender": oid(ASHA), "content": "Thanks, got it.", "messageType": "text", "attachments": [], "isRead": [],
                 "timestamp": date("2024-03-02T10:07:00.222Z"), "isDeleted": false, "_id": oid("65f1e3000000000000000003")},
                // Legacy attachments, from before IPFS.
                {"sender": oid(VIKRAM), "content": "Old notice", "messageType": "text",
                 "attachments": [{"filename": "notice.pdf", "originalName": "notice.pdf", "url": "/uploads/notice.pdf", "size": 100, "mimetype": "application/pdf", "_id": oid("65f1e4000000000000000001")}],
                 "isRead": [], "timestamp": date("2024-03-02T10:08:00.333Z"), "isDeleted": false, "_id": oid("65f1e3000000000000000004")},
                // Its sender is gone.
                {"sender": oid(GONE), "content": "Spam", "messageType": "text", "isRead": [], "timestamp": date("2024-03-02T10:09:00.000Z"), "_id": oid("65f1e3000000000000000005")},
            ],
            "lastMessage": {"content": "Old notice", "timestamp": date("2024-03-02T10:08:00.333Z"), "sender": oid(VIKRAM)},
            "isActive": true, "createdAt": date("2024-03-02T10:00:00.000Z"), "updatedAt": date("2024-03-02T10:08:00.400Z"), "__v": 5,
        },
        // A case chat made by the original's socket handler: `/<caseId>/query_<caseId>_<ms>`.
        doc! {
            "_id": oid(CASE_CHAT), "chatId": format!("/{QUERY}/query_{QUERY}_1709546400021"),
            "participants": [{"user": oid(ASHA), "role": "citizen", "_id": oid("65f1e1000000000000000003"), "joinedAt": date("2024-03-04T10:00:00.021Z")},
                             {"user": oid(VIKRAM), "role": "lawyer", "_id": oid("65f1e1000000000000000004"), "joinedAt": date("2024-03-04T10:00:00.021Z")}],
            "chatType": "query", "status": "active", "relatedCase": {"caseType": "query", "caseId": oid(QUERY)},
            "messages": [{"sender": oid(VIKRAM), "content": "Please send the rent agreement.", "messageType": "text", "attachments": [], "isRead": [],
                          "timestamp": date("2024-03-04T10:30:00.500Z"), "isDeleted": false, "_id": oid("65f1e3000000000000000010")}],
            "lastMessage": {"content": "Please send the rent agreement.", "timestamp": date("2024-03-04T10:30:00.500Z"), "sender": oid(VIKRAM)},
            "isActive": true, "createdAt": date("2024-03-04T10:00:00.021Z"), "updatedAt": date("2024-03-04T10:30:00.500Z"),
        },
        // A pending direct chat (the legacy message-request flow) with a participant who is gone.
        doc! {
            "_id": oid(GHOST_CHAT), "chatId": format!("direct_{GONE}_{VIKRAM}"),
            "participants": [{"user": oid(GONE), "role": "citizen"}, {"user": oid(VIKRAM), "role": "lawyer"}],
            "chatType": "direct", "status": "pending", "messages": [], "isActive": true,
            "createdAt": date("2024-03-08T10:00:00.000Z"), "updatedAt": date("2024-03-08T10:00:00.000Z"),
        },
    ];

    let documents = vec![
        doc! {
            "_id": oid(DOC_DIRECT), "originalName": "rent-agreement.pdf", "ipfsHash": IPFS, "mimeType": "application/pdf", "size": 2048,
            "url": format!("https://gateway.pinata.cloud/ipfs/{IPFS}"), "documentType": "direct", "relatedId": oid(CONNECTION),
            "relatedModel": "DirectConnection", "uploadedBy": oid(ASHA), "uploadedByRole": "citizen",
            "accessibleTo": [{"userId": oid(ASHA), "role": "citizen", "_id": oid("65f1f1000000000000000001")}, {"userId": oid(VIKRAM), "role": "lawyer", "_id": oid("65f1f1000000000000000002")}],
            "description": "Signed agreement", "tags": ["lease", "agreement"], "documentCategory": "agreement", "isVerified": false,
            "pinataMetadata": {"name": "rent-agreement.pdf", "keyvalues": {"uploadedBy": ASHA, "uploadedByRole": "citizen", "messageType": "file"}},
            "status": "active", "uploadedAt": date("2024-03-02T10:06:30.000Z"), "lastAccessedAt": date("2024-03-02T10:06:30.000Z"),
            "createdAt": date("2024-03-02T10:06:30.001Z"), "updatedAt": date("2024-03-02T10:06:30.001Z"), "__v": 0,
        },
        // From upload-multiple, which leaves accessibleTo empty.
        doc! {
            "_id": oid(DOC_QUERY), "originalName": "notice.pdf", "ipfsHash": IPFS_2, "mimeType": "application/pdf", "size": 4096,
            "url": format!("https://gateway.pinata.cloud/ipfs/{IPFS_2}"), "documentType": "query", "relatedId": oid(QUERY),
            "relatedModel": "Query", "uploadedBy": oid(VIKRAM), "uploadedByRole": "lawyer", "accessibleTo": [],
            "description": "", "tags": [], "documentCategory": "legal_notice", "isVerified": false,
            "pinataMetadata": {"name": "notice.pdf", "keyvalues": {"uploadedBy": VIKRAM, "uploadedByRole": "lawyer", "messageType": "file"}},
            "status": "active", "uploadedAt": date("2024-03-04T12:00:00.000Z"), "lastAccessedAt": date("2024-03-04T12:00:00.000Z"),
            "createdAt": date("2024-03-04T12:00:00.000Z"), "updatedAt": date("2024-03-04T12:00:00.000Z"),
        },
    ];

    let consultations = vec![doc! {
        "_id": oid(CONSULTATION), "title": "Deposit strategy", "description": "Discuss notice to landlord",
        "citizen": oid(ASHA), "lawyer": oid(VIKRAM), "consultationType": "video", "status": "scheduled",
        "scheduledDateTime": date("2030-05-01T05:30:00.000Z"), "duration": 45,
        "fee": {"amount": 1500, "currency": "INR", "paymentStatus": "pending"},
        "meetingDetails": {"platform": "google-meet", "meetingLink": format!("https://meet.example.com/consultation/{CONSULTATION}")},
        "agenda": [{"topic": "Notice draft", "priority": "high", "_id": oid("65f2a1000000000000000001")}],
        "followUp": {"required": false}, "reminders": [],
        "createdAt": date("2024-03-05T07:00:00.000Z"), "updatedAt": date("2024-03-05T07:00:00.000Z"), "__v": 0,
    }];

    Fixture {
        collections: vec![
            ("users", users),
            ("directconnections", connections),
            ("queries", queries),
            ("disputes", disputes),
            ("chats", chats),
            ("documents", documents),
            ("consultations", consultations),
        ],
    }
}

impl Fixture {
    /// `mongodump --out DIR` of database `cv`: `DIR/cv/<collection>.bson` with metadata;
    /// the collections in `gzipped` as `mongodump --gzip` writes them.
    fn write_dump(&self, gzipped: &[&str]) -> PathBuf {
        let root = temp_dir("import-dump");
        let dir = root.join("cv");
        std::fs::create_dir_all(&dir).unwrap();
        for (collection, docs) in &self.collections {
            let mut bytes = Vec::new();
            for d in docs {
                d.to_writer(&mut bytes).unwrap();
            }
            let meta = serde_json::json!({"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}], "uuid": "0", "collectionName": collection, "type": "collection"});
            if gzipped.contains(collection) {
                std::fs::write(dir.join(format!("{collection}.bson.gz")), gzip(&bytes)).unwrap();
                std::fs::write(dir.join(format!("{collection}.metadata.json.gz")), gzip(meta.to_string().as_bytes()))
                    .unwrap();
            } else {
                std::fs::write(dir.join(format!("{collection}.bson")), bytes).unwrap();
                std::fs::write(dir.join(format!("{collection}.metadata.json")), meta.to_string()).unwrap();
            }
        }
        // What mongodump also writes for other databases and collections.
        std::fs::write(dir.join("sessions.bson"), Vec::<u8>::new()).unwrap();
        root
    }

    /// `mongoexport` files: canonical Extended JSON a document per line, or relaxed as a
    /// JSON array (`--jsonArray`).
    fn write_export(&self, canonical: bool, array: bool) -> PathBuf {
        let dir = temp_dir("import-export");
        for (collection, docs) in &self.collections {
            let values: Vec<Value> = docs
                .iter()
                .map(|d| {
                    if canonical {
                        Bson::Document(d.clone()).into_canonical_extjson()
                    } else {
                        Bson::Document(d.clone()).into_relaxed_extjson()
                    }
                })
                .collect();
            let text = if array {
                serde_json::to_string_pretty(&values).unwrap()
            } else {
                values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n") + "\n"
            };
            std::fs::write(dir.join(format!("{collection}.json")), text).unwrap();
        }
        dir
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn options(app: &TestApp, dump: &Path) -> Options {
    let mut o = Options::new(dump, app.data_dir.join("uploads"));
    o.report = Some(app.data_dir.join("import-report.jsonl"));
    o
}

async fn login(app: &TestApp, email: &str, password: &str) -> (Value, String) {
    let r = app.post("/api/auth/login", None, serde_json::json!({"email": email, "password": password})).await;
    r.assert_status(200);
    let token = r.data()["tokens"]["accessToken"].as_str().unwrap().to_string();
    (r.data()["user"].clone(), token)
}

async fn stored_hash(app: &TestApp, id: &str) -> String {
    app.state()
        .db
        .one(&Sql::new("SELECT password_hash FROM users WHERE id = $1").arg(id))
        .await
        .unwrap()
        .text("password_hash")
        .unwrap()
}

fn has(body: &Value, needle: &str) -> bool {
    body.to_string().contains(needle)
}

/// Every row of the imported tables, as text, to tell whether a run changed anything.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for (table, order) in [
        ("users", "id"),
        ("lawyer_specializations", "user_id, specialization"),
        ("direct_connections", "id"),
        ("cases", "id"),
        ("case_requests", "id"),
        ("chats", "id"),
        ("chat_participants", "chat_ref, user_id"),
        ("messages", "id"),
        ("message_reads", "message_id, user_id"),
        ("documents", "id"),
        ("document_access", "document_id, user_id"),
        ("consultations", "id"),
    ] {
        let rows = app.state().db.all(&Sql::new(format!("SELECT * FROM {table} ORDER BY {order}"))).await.unwrap();
        for row in rows {
            use sqlx::{Column, Row};
            let mut line = format!("{table}:");
            for (i, col) in row.columns().iter().enumerate() {
                let v = row
                    .try_get::<Option<String>, _>(i)
                    .ok()
                    .flatten()
                    .or_else(|| row.try_get::<Option<i64>, _>(i).ok().flatten().map(|n| n.to_string()))
                    .or_else(|| row.try_get::<Option<bool>, _>(i).ok().flatten().map(|b| b.to_string()))
                    .or_else(|| row.try_get::<Option<f64>, _>(i).ok().flatten().map(|f| f.to_string()));
                line.push_str(&format!(" {}={:?}", col.name(), v));
            }
            out.push(line);
        }
    }
    out
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.state().db.count(&Sql::new(format!("SELECT COUNT(*) FROM {table}"))).await.unwrap()
}

#[tokio::test]
async fn an_imported_dump_serves_its_data_and_old_passwords_sign_in() {
    let app = spawn().await;
    let dump = fixture().write_dump(&["chats", "documents"]);
    let summary = nyaya::import::run(&app.state().db, &options(&app, &dump)).await.expect("import");
    let text = summary.render();

    // The final table: read, written, repaired, skipped with reasons.
    let users = summary.get("users");
    assert_eq!((users.read, users.written, users.skipped), (9, 9, 0), "{text}");
    assert_eq!(summary.get("queries").skipped, 1, "{text}");
    assert_eq!(summary.get("chats").written, 3, "{text}");
    assert!(summary.count_of("queries", "dangling reference: citizen") == 1, "{text}");
    assert!(summary.count_of("users", "invalid email address") == 1, "{text}");
    assert!(summary.count_of("users", "unknown role") == 1, "{text}");
    assert!(summary.count_of("users", "field \"aadhaar\"") == 1, "{text}");
    assert!(summary.count_of("users", "isVerified disagreed") == 1, "{text}");
    assert!(summary.count_of("queries", "unknown status") == 1, "{text}");
    assert!(summary.count_of("chats", "message in the same millisecond") == 1, "{text}");
    assert!(summary.count_of("chats", "dangling reference: message sender") == 1, "{text}");
    assert!(summary.count_of("chats", "old-format chatId") == 1, "{text}");
    assert!(text.contains("sessions.bson"), "files of other collections are named: {text}");
    let report = std::fs::read_to_string(app.data_dir.join("import-report.jsonl")).unwrap();
    assert!(report.contains(QUERY_ORPHAN) && report.contains("\"skipped\""), "{report}");

    // Old passwords sign in; the bcrypt hash ($2a$ and $2b$) is replaced by argon2.
    assert!(stored_hash(&app, ASHA).await.starts_with("$2a$10$"));
    let (asha, asha_token) = login(&app, "asha@example.in", "OldPass1").await;
    assert!(stored_hash(&app, ASHA).await.starts_with("$argon2"), "upgraded at the first sign-in");
    login(&app, "asha@example.in", "OldPass1").await;
    assert_eq!(asha["_id"], ASHA);
    assert_eq!(asha["createdAt"], "2024-03-01T10:00:00.123Z", "dates exact to the millisecond");
    assert_eq!(asha["address"]["pincode"], "411001");
    assert!(!has(&asha, "aadhaar") && !has(&asha, "refresh"));
    let wrong = app
        .post("/api/auth/login", None, serde_json::json!({"email": "asha@example.in", "password": "Wrong123"}))
        .await;
    wrong.assert_status(401);
    let (vikram, vikram_token) = login(&app, "vikram@lawfirm.in", "LawPass9").await;
    assert!(stored_hash(&app, VIKRAM).await.starts_with("$argon2"));
    assert_eq!(vikram["lawyerDetails"]["verificationStatus"], "verified");
    assert_eq!(vikram["isVerified"], true);
    let (meera, _) = login(&app, "meera@lawfirm.in", "Meera123").await;
    assert_eq!(
        (meera["isVerified"].clone(), meera["lawyerDetails"]["verificationStatus"].clone()),
        (Value::Bool(false), Value::from("pending"))
    );
    let (kabir, _) = login(&app, "kabir@nls.ac.in", "Student1").await;
    assert_eq!(kabir["studentDetails"]["universityName"], "NLS Bangalore");
    let (ravi, _) = login(&app, "ravi@example.in", "Ravi1234").await;
    assert_eq!(ravi["_id"], RAVI, "a hex-string _id keeps its value");
    // The seed script's address is stored as sign-in normalizes it.
    login(&app, "riya.sen@gmail.com", "Riya2024").await;
    login(&app, "admin@chainverdict.in", "Admin@123").await;

    // The citizen's dashboard counts what the dump held.
    let dash = app.get("/api/citizens/dashboard", Some(&asha_token)).await;
    dash.assert_status(200);
    let d = dash.data();
    assert_eq!(
        (d["totalQueries"].as_i64(), d["totalDisputes"].as_i64(), d["connectedLawyers"].as_i64()),
        (Some(2), Some(1), Some(1)),
        "{d}"
    );
    assert_eq!(d["activeQueries"].as_i64(), Some(1), "{d}");
    let stats = app.get("/api/lawyers/dashboard/stats", Some(&vikram_token)).await;
    stats.assert_status(200);
    assert_eq!(stats.data()["activeQueries"].as_i64(), Some(1), "{}", stats.body);
    assert_eq!(stats.data()["totalClients"].as_i64(), Some(1), "{}", stats.body);

    // The direct chat: every message (the one of a sender who is gone aside), in order, with
    // read receipts, file data, legacy attachments and the last message.
    let direct = format!("direct_{ASHA}_{VIKRAM}");
    let chat = app.get(&format!("/api/chats/{direct}"), Some(&asha_token)).await;
    chat.assert_status(200);
    let messages = chat.data()["chat"]["messages"].as_array().cloned().unwrap_or_default();
    let contents: Vec<&str> = messages.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(
        contents,
        ["Hello, the landlord refuses to return the deposit.", "File attachment", "Thanks, got it.", "Old notice"],
        "{}",
        chat.body
    );
    assert_eq!(messages[0]["_id"], "65f1e3000000000000000001");
    assert_eq!(messages[0]["timestamp"], "2024-03-02T10:05:00.111Z");
    assert_eq!(messages[0]["isRead"][0]["user"], VIKRAM);
    assert_eq!(messages[0]["isRead"][0]["readAt"], "2024-03-02T10:06:00.789Z");
    assert_eq!(messages[1]["fileData"]["ipfsHash"], IPFS);
    assert_eq!(messages[2]["timestamp"], "2024-03-02T10:07:00.223Z", "a tie is stored 1 ms later");
    assert_eq!(messages[3]["attachments"][0]["filename"], "notice.pdf");
    assert!(has(&chat.data()["chat"]["lastMessage"], "Old notice"), "{}", chat.body);
    assert_eq!(chat.data()["chat"]["updatedAt"], "2024-03-02T10:08:00.400Z");
    assert_eq!(chat.data()["chat"]["directConnection"], CONNECTION);

    // The socket-made case chat is found by the case's chat route.
    let case_chat = app.get(&format!("/api/chats/case/query/{QUERY}"), Some(&vikram_token)).await;
    case_chat.assert_status(200);
    assert!(
        has(&case_chat.body, &format!("query_{QUERY}")) && has(&case_chat.body, "Please send the rent agreement."),
        "{}",
        case_chat.body
    );
    let list = app.get("/api/chats", Some(&vikram_token)).await;
    list.assert_status(200);
    // The pending chat keeps its chatId; of its participants only the one who exists.
    assert!(has(&list.body, &direct) && !has(&list.body, &format!("\"_id\":\"{GONE}\"")), "{}", list.body);

    // Cases with their offers, requests, notes and timelines.
    let query = app.get(&format!("/api/queries/{QUERY}"), Some(&asha_token)).await;
    query.assert_status(200);
    for needle in [
        "Asked for the rent agreement.",
        "Status changed to assigned",
        "65f1c1000000000000000001",
        "65f1c1000000000000000002",
        "2024-03-04T10:00:00.020Z",
    ] {
        assert!(has(&query.body, needle), "{needle} in {}", query.body);
    }
    let open = app.get(&format!("/api/queries/{QUERY_OPEN}"), Some(&asha_token)).await;
    open.assert_status(200);
    assert!(has(&open.body, "\"status\":\"pending\""), "{}", open.body);
    let dispute = app.get(&format!("/api/disputes/{DISPUTE}"), Some(&asha_token)).await;
    dispute.assert_status(200);
    for needle in ["S. Patil", "250000", "Civil Court, Pune", "Survey map attached.", "2024-04-01T04:30:00.000Z"] {
        assert!(has(&dispute.body, needle), "{needle} in {}", dispute.body);
    }
    let offers = app.get("/api/citizens/received-offers", Some(&asha_token)).await;
    offers.assert_status(200);
    assert!(has(&offers.body, "65f1d1000000000000000001"), "{}", offers.body);

    // Documents with their metadata and IPFS references.
    let docs = app.get(&format!("/api/documents/direct/{CONNECTION}"), Some(&vikram_token)).await;
    docs.assert_status(200);
    for needle in
        [IPFS, "rent-agreement.pdf", "Signed agreement", "agreement", "\"keyvalues\"", "2024-03-02T10:06:30.000Z"]
    {
        assert!(has(&docs.body, needle), "{needle} in {}", docs.body);
    }
    let mine = app.get("/api/documents/repository/my-documents", Some(&vikram_token)).await;
    mine.assert_status(200);
    assert!(has(&mine.body, IPFS_2), "the uploader sees a document with an empty access list: {}", mine.body);

    // Consultations.
    let consultations = app.get("/api/consultations", Some(&asha_token)).await;
    consultations.assert_status(200);
    assert!(
        has(&consultations.body, CONSULTATION)
            && has(&consultations.body, "google-meet")
            && has(&consultations.body, "2030-05-01T05:30:00.000Z"),
        "{}",
        consultations.body
    );
    let _ = std::fs::remove_dir_all(dump);
}

#[tokio::test]
async fn a_second_run_changes_nothing_and_a_stopped_run_completes() {
    let app = spawn().await;
    let dump = fixture().write_dump(&[]);

    // Stopped after two batches of two documents, as a killed run.
    let mut first = options(&app, &dump);
    first.batch = 2;
    first.stop_after_batches = Some(2);
    let err = nyaya::import::run(&app.state().db, &first).await.expect_err("stops");
    assert!(err.downcast_ref::<Stopped>().is_some(), "{err:#}");
    assert_eq!(count(&app, "users").await, 4, "two batches of two users");
    assert_eq!(count(&app, "messages").await, 0);

    // Run again: completes without duplicates.
    let summary = nyaya::import::run(&app.state().db, &options(&app, &dump)).await.expect("resumed import");
    assert_eq!((summary.get("users").present, summary.get("users").written), (4, 5), "{}", summary.render());
    assert_eq!(count(&app, "users").await, 9);
    assert_eq!(count(&app, "messages").await, 5, "four direct-chat messages and one case-chat message");
    assert_eq!(count(&app, "message_reads").await, 1);
    assert_eq!(count(&app, "case_requests").await, 3);
    let after_first = snapshot(&app).await;

    // A second full run changes nothing.
    let again = nyaya::import::run(&app.state().db, &options(&app, &dump)).await.expect("second run");
    for (collection, tally) in &again.collections {
        assert_eq!(tally.written, 0, "{collection}: {}", again.render());
    }
    assert_eq!(again.get("chats").present, 3);
    assert_eq!(snapshot(&app).await, after_first);

    // A dry run writes nothing either, and says what it would write.
    let fresh = spawn().await;
    let mut dry = options(&fresh, &dump);
    dry.dry_run = true;
    let would = nyaya::import::run(&fresh.state().db, &dry).await.expect("dry run");
    assert_eq!(would.get("users").written, 9);
    assert_eq!(would.rows.get(&nyaya::import::tables::Table::Messages), Some(&5));
    assert!(would.render().contains("would write"));
    assert_eq!(count(&fresh, "users").await, 0);
    let _ = std::fs::remove_dir_all(dump);
}

#[tokio::test]
async fn extended_json_exports_import_like_the_bson_dump() {
    let fixture = fixture();
    let bson_app = spawn().await;
    let dump = fixture.write_dump(&[]);
    nyaya::import::run(&bson_app.state().db, &options(&bson_app, &dump)).await.unwrap();
    let expected = snapshot(&bson_app).await;
    // Password hashes differ per fixture call (bcrypt salts), so one fixture serves all.
    for (canonical, array) in [(true, false), (false, true)] {
        let app = spawn().await;
        let export = fixture.write_export(canonical, array);
        let summary =
            nyaya::import::run(&app.state().db, &options(&app, &export)).await.expect("import of Extended JSON");
        assert_eq!(summary.get("chats").written, 3, "{}", summary.render());
        assert_eq!(snapshot(&app).await, expected, "canonical {canonical}, array {array}");
        login(&app, "asha@example.in", "OldPass1").await;
        let _ = std::fs::remove_dir_all(export);
    }
    let _ = std::fs::remove_dir_all(dump);
}

#[tokio::test]
async fn unreadable_and_truncated_documents_are_reported() {
    let app = spawn().await;
    let dump = fixture().write_dump(&[]);
    let users = dump.join("cv").join("users.bson");
    let mut bytes = std::fs::read(&users).unwrap();
    // A dump cut off inside its last document.
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&users, bytes).unwrap();
    // A line of an export that is not Extended JSON.
    std::fs::remove_file(dump.join("cv").join("consultations.bson")).unwrap();
    std::fs::write(
        dump.join("cv").join("consultations.json"),
        "{\"_id\": {\"$oid\": \"65f2a0000000000000000009\"}, \"title\": \n{not json}\n",
    )
    .unwrap();
    let summary = nyaya::import::run(&app.state().db, &options(&app, &dump)).await.expect("import");
    let text = summary.render();
    assert_eq!(summary.get("users").written, 8, "{text}");
    assert_eq!(summary.get("users").skipped, 1, "{text}");
    assert!(text.contains("truncated dump"), "{text}");
    assert_eq!(summary.get("consultations").skipped, 2, "{text}");
    // The odd-role user was the last one: the rest imported, references to it are reported.
    assert_eq!(count(&app, "users").await, 8);
    let _ = std::fs::remove_dir_all(dump);
}

#[tokio::test]
async fn files_given_by_ipfs_hash_are_served() {
    let app = spawn().await;
    let dump = fixture().write_dump(&[]);
    let files = temp_dir("import-files");
    std::fs::write(files.join(IPFS), b"%PDF-1.4 rent agreement").unwrap();
    let mut o = options(&app, &dump);
    o.files = Some(files.clone());
    // The uploads folder the server reads.
    o.uploads = app.state().config.upload_dir.clone();
    let summary = nyaya::import::run(&app.state().db, &o).await.expect("import");
    assert!(summary.count_of("documents", "file not in --files") == 1, "{}", summary.render());
    let (_, token) = login(&app, "vikram@lawfirm.in", "LawPass9").await;
    let res = app
        .client
        .get(app.url(&format!("/api/documents/{DOC_DIRECT}/download")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF-1.4 rent agreement");
    let res = app.client.get(app.url(&format!("/api/chats/file/{IPFS}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // A record whose file was not handed over is a 404 to its reader, never a 500.
    for path in [format!("/api/documents/{DOC_QUERY}/download"), format!("/api/chats/file/{IPFS_2}")] {
        let missing = app.get(&path, Some(&token)).await;
        missing.assert_status(404);
        assert_eq!(missing.body["success"], false, "{path}: {}", missing.body);
    }
    let _ = std::fs::remove_dir_all(dump);
    let _ = std::fs::remove_dir_all(files);
}
