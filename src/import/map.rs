//! Each collection's documents, as the original's Mongoose models and controllers wrote them,
//! mapped to nyaya's rows. Every field the models declare is carried; what breaks nyaya's
//! rules is repaired where a safe reading exists and reported either way; a document with no
//! safe reading is skipped with its reason.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use bson::{Bson, Document};
use serde_json::{Map, Value, json};

use super::tables::{Row, Table, int, text};
use super::value::{
    Fields, bool_of, date_of, derived_id, describe, doc_to_json, id_of, is_blank, json_number, number_of, text_of,
    to_json,
};
use crate::db::{Param, Sql};

/// Whether a problem was repaired (the document is written, changed or as stored) or made
/// the document unusable (nothing of it is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Repaired,
    Skipped,
}

/// One finding about a document: a reason shared by all documents with the same problem
/// (what the summary counts) and the details of this one.
#[derive(Debug, Clone)]
pub struct Note {
    pub outcome: Outcome,
    pub reason: String,
    pub detail: String,
}

/// A document mapped to rows.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The document's id (as written, or as the report names it when skipped).
    pub id: String,
    /// Rows to insert, parents first.
    pub rows: Vec<Row>,
    /// Statements to run after the rows (in the same transaction).
    pub after: Vec<Sql>,
    pub notes: Vec<Note>,
    /// Set when nothing of the document can be written.
    pub skipped: bool,
    /// A file to attach to an already imported document (`(document id, storage key)`).
    pub attach_file: Option<(String, String)>,
}

impl Mapped {
    fn new(id: String) -> Mapped {
        Mapped { id, ..Mapped::default() }
    }

    /// A second document with an id already read from the same collection.
    pub fn duplicate(id: String) -> Mapped {
        let detail = format!("_id {id} appears more than once; the first is imported");
        Mapped::new(id).skip("the same _id appears twice in the dump", detail)
    }

    fn repair(&mut self, reason: impl Into<String>, detail: impl Into<String>) {
        self.notes.push(Note { outcome: Outcome::Repaired, reason: reason.into(), detail: detail.into() });
    }

    fn skip(mut self, reason: impl Into<String>, detail: impl Into<String>) -> Mapped {
        // What was repaired before does not matter any more: nothing of the document is written.
        self.notes.retain(|n| n.outcome == Outcome::Skipped);
        self.notes.push(Note { outcome: Outcome::Skipped, reason: reason.into(), detail: detail.into() });
        self.rows.clear();
        self.after.clear();
        self.skipped = true;
        self
    }

    fn row(&mut self, table: Table, values: Vec<Param>) {
        debug_assert_eq!(values.len(), table.columns().len(), "{}", table.name());
        self.rows.push(Row { table, values });
    }
}

/// What earlier documents (of this run and of the database) established: the targets of
/// references and the values that must stay unique.
#[derive(Debug, Default)]
pub struct Known {
    /// User id to role.
    pub users: HashMap<String, String>,
    /// Email to user id.
    pub emails: HashMap<String, String>,
    /// Connection id to `(citizen, lawyer)`.
    pub connections: HashMap<String, (String, String)>,
    /// `(citizen, lawyer)` to connection id.
    pub pairs: HashMap<(String, String), String>,
    /// Connection chatId to connection id.
    pub connection_chats: HashMap<String, String>,
    /// Case id to its type.
    pub cases: HashMap<String, &'static str>,
    /// Case request ids seen in this run.
    pub request_ids: HashSet<u128>,
    /// Public chatId to the chat's id.
    pub chat_ids: HashMap<String, String>,
    /// Message ids seen in this run.
    pub message_ids: HashSet<u128>,
    /// `(content hash, type, related id)` to document id.
    pub document_keys: HashMap<(String, String, String), String>,
    /// Document id to its storage key, for documents in the database.
    pub document_storage: HashMap<String, String>,
}

fn id_number(id: &str) -> u128 {
    u128::from_str_radix(id, 16).unwrap_or(0)
}

/// Where the original files of documents may be found (`--files`), and where nyaya keeps them.
#[derive(Debug, Clone)]
pub struct Files {
    /// Folder with the files named by their IPFS hash (`<folder>/<ipfsHash>`).
    pub from: PathBuf,
    /// nyaya's upload folder (content-addressed by SHA-256).
    pub uploads: PathBuf,
    /// Dry run: look, do not copy.
    pub dry_run: bool,
}

/// The storage key of documents whose file was not moved: the file stays at its IPFS url.
pub fn ipfs_key(hash: &str) -> String {
    format!("ipfs/{hash}")
}

// ---------- shared readers ----------

/// The document's own id: an ObjectId (or its hex), or a stable id derived from another value.
fn own_id(doc: &Document, collection: &str) -> Result<(String, Option<Note>), Box<Mapped>> {
    match doc.get("_id") {
        Some(v) => match id_of(v) {
            Some(id) => Ok((id, None)),
            None => {
                let id = derived_id(&describe(v));
                let note = Note {
                    outcome: Outcome::Repaired,
                    reason: "_id is not an ObjectId: imported under an id derived from it".into(),
                    detail: format!("_id {} of {collection} is imported as {id}", describe(v)),
                };
                Ok((id, Some(note)))
            }
        },
        None => Err(Box::new(
            Mapped::new("(no _id)".into())
                .skip("document without _id", format!("a document of {collection} has no _id")),
        )),
    }
}

/// A reference: an ObjectId, its hex, a populated `{_id}`, or the id derived from a value that
/// is not an ObjectId (as [`own_id`] derives it, so both ends still match).
fn ref_of(value: &Bson) -> Option<String> {
    id_of(value).or_else(|| match value {
        Bson::String(s) if !s.trim().is_empty() => Some(derived_id(&describe(value))),
        Bson::Int32(_) | Bson::Int64(_) => Some(derived_id(&describe(value))),
        _ => None,
    })
}

/// The document's creation time: `createdAt`, else the ObjectId's timestamp, else now.
fn created_at(f: &mut Fields, doc: &Document, key: &'static str, m: &mut Mapped) -> String {
    if let Some(at) = f.get(key).and_then(date_of) {
        return at;
    }
    let from_id = match doc.get("_id") {
        Some(Bson::ObjectId(oid)) => super::value::iso_millis(oid.timestamp().timestamp_millis()),
        _ => None,
    };
    match from_id {
        Some(at) => {
            m.repair(format!("{key} missing: the ObjectId's creation time is used"), format!("{key} set to {at}"));
            at
        }
        None => {
            let now = crate::time::now_iso();
            m.repair(format!("{key} missing: the import time is used"), format!("{key} set to {now}"));
            now
        }
    }
}

/// A date field that must hold a date when present.
fn date_field(f: &mut Fields, key: &'static str, m: &mut Mapped) -> Option<String> {
    let raw = f.get(key)?;
    match date_of(raw) {
        Some(at) => Some(at),
        None => {
            m.repair(format!("{key} is not a date: left empty"), format!("{key} was {}", describe(raw)));
            None
        }
    }
}

/// An enum field: its value when allowed, else `fallback` (reported when the value was present).
fn enum_field(f: &mut Fields, key: &'static str, allowed: &[&str], fallback: &str, m: &mut Mapped) -> String {
    match f.text(key) {
        None => fallback.to_string(),
        Some(v) if allowed.contains(&v.as_str()) => v,
        Some(v) => {
            let lower = v.trim().to_lowercase();
            if allowed.contains(&lower.as_str()) {
                return lower;
            }
            m.repair(
                format!("unknown {key} value: imported as {fallback:?}"),
                format!("{key} {v:?} is not one of {}", allowed.join(", ")),
            );
            fallback.to_string()
        }
    }
}

/// Fields of the document that the model does not declare: reported, not carried.
fn report_rest(f: &Fields, model: &str, m: &mut Mapped) {
    for key in f.rest() {
        m.repair(
            format!("field {key:?} is not in the {model} model: not carried"),
            format!("field {key:?} not carried"),
        );
    }
}

fn json_text(v: Value) -> Param {
    text(Some(v.to_string()))
}

fn opt_json(v: Option<Value>) -> Param {
    text(v.map(|v| v.to_string()))
}

/// An array of subdocuments as JSON, each with an `_id` (derived from its place when missing).
fn items_json(items: &[Bson], parent: &str, list: &str) -> Value {
    Value::Array(
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Bson::Document(d) => {
                    let mut obj = doc_to_json(d);
                    if !obj.contains_key("_id") {
                        let mut with_id = Map::new();
                        with_id.insert("_id".into(), json!(derived_id(&format!("{parent}/{list}/{i}"))));
                        with_id.extend(obj);
                        obj = with_id;
                    }
                    Value::Object(obj)
                }
                other => to_json(other),
            })
            .collect(),
    )
}

fn user_exists(known: &Known, id: &str) -> bool {
    known.users.contains_key(id)
}

// ---------- users ----------

const ROLES: &[&str] = &["admin", "lawyer", "citizen", "law_student"];

fn is_password_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60
        || hash.starts_with("$argon2")
}

fn user_ref_json(items: &[Bson], parent: &str, list: &str) -> Value {
    items_json(items, parent, list)
}

pub fn user(doc: &Document, known: &mut Known) -> Mapped {
    use crate::service::accounts::email;
    let (id, id_note) = match own_id(doc, "users") {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v", "refreshToken", "passwordResetToken", "passwordResetExpires"]);

    // Email: lowercased as the model does; stored as sign-in normalizes it, so the owner finds
    // the account (addresses written by the original's admin scripts were not normalized).
    let Some(raw_email) = f.text("email").map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) else {
        return m.skip("no email address", "the account has no email");
    };
    let mut address = raw_email.clone();
    if !email::is_email(&raw_email) || !email::matches_model(&raw_email) {
        m.repair(
            "invalid email address: imported as stored; the owner cannot sign in until an admin corrects it",
            format!("email {raw_email:?}"),
        );
    } else if let Some(normalized) = email::normalize(&raw_email).filter(|n| *n != raw_email) {
        match known.emails.get(&normalized) {
            Some(other) if *other != id => m.repair(
                "email not in the form sign-in looks up, and that form belongs to another account: kept as stored",
                format!("email {raw_email:?} normalizes to {normalized:?} of account {other}"),
            ),
            _ => {
                m.repair("email stored as sign-in normalizes it", format!("{raw_email:?} stored as {normalized:?}"));
                address = normalized;
            }
        }
    }
    if let Some(other) = known.emails.get(&address).filter(|other| **other != id) {
        return m
            .skip("email address already used by another account", format!("{address:?} belongs to account {other}"));
    }

    let role = match f.text("role") {
        None => "citizen".to_string(),
        Some(r) if ROLES.contains(&r.as_str()) => r,
        Some(r) => {
            m.repair("unknown role: imported as citizen (the least privileged role)", format!("role {r:?}"));
            "citizen".into()
        }
    };
    let lawyer = role == "lawyer";
    let student = role == "law_student";

    let name = match f.text("name").map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let local = address.split('@').next().unwrap_or("user").to_string();
            m.repair("name missing: the email's local part is used", format!("name set to {local:?}"));
            local
        }
    };

    // bcrypt hashes of bcryptjs are carried as they are: the first sign-in replaces them with
    // argon2. Anything else cannot verify a password, so the owner resets it.
    let password_hash = match f.text("password") {
        Some(h) if is_password_hash(&h) => h,
        Some(_) | None => {
            m.repair(
                "no usable password hash: the owner signs in after a password reset",
                "password is not a bcrypt hash",
            );
            "!".to_string()
        }
    };

    let phone = f.text("phone");
    if let Some(p) = &phone
        && !(p.len() == 10 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        m.repair("phone is not 10 digits: kept as stored", format!("phone {p:?}"));
    }
    let address_json = f.doc("address").filter(|d| !d.is_empty()).map(|d| Value::Object(doc_to_json(d)));
    let profile_picture = f.text("profilePicture");

    let auto_verified = !lawyer;
    let stored_verified = f.get("isVerified").and_then(bool_of);
    let is_active = f.get("isActive").and_then(bool_of).unwrap_or(true);

    let mut completion = Map::new();
    completion.insert("basicInfo".into(), json!(true));
    completion.insert("roleSpecificDetails".into(), json!(auto_verified));
    completion.insert("documentsUploaded".into(), json!(auto_verified));
    if let Some(d) = f.doc("profileCompletion") {
        completion.extend(doc_to_json(d));
    }

    let mut details = f.doc("lawyerDetails").map(doc_to_json);
    let mut verification_status = None;
    let is_verified;
    if lawyer {
        let d = details.get_or_insert_with(Map::new);
        if let Some(s) = d.get("specialization").and_then(Value::as_str).map(str::to_string) {
            d.insert("specialization".into(), json!([s]));
            m.repair(
                "lawyerDetails.specialization is a string: imported as a one-item list",
                format!("specialization {s:?}"),
            );
        }
        let status = match d.get("verificationStatus") {
            None | Some(Value::Null) => "pending".to_string(),
            Some(Value::String(s)) if ["pending", "verified", "rejected"].contains(&s.as_str()) => s.clone(),
            Some(other) => {
                m.repair(
                    "unknown lawyerDetails.verificationStatus: imported as pending",
                    format!("verificationStatus {other}"),
                );
                d.insert("verificationStatus".into(), json!("pending"));
                "pending".into()
            }
        };
        // nyaya keeps isVerified and verificationStatus in step; the status decides, as the
        // original's own repair script (fixVerificationStatus) does.
        let verified = status == "verified";
        if stored_verified.is_some_and(|v| v != verified) {
            m.repair(
                "isVerified disagreed with lawyerDetails.verificationStatus: the status decides",
                format!("isVerified {} with verificationStatus {status:?}: imported as {verified}", !verified),
            );
        }
        is_verified = verified;
        verification_status = Some(status);
    } else {
        if details.take().is_some() {
            m.repair(
                format!("lawyerDetails on a {role} account: not carried (the original removes it on save)"),
                "lawyerDetails not carried",
            );
        }
        if stored_verified == Some(false) {
            m.repair(
                format!("isVerified false on a {role} account: set true as the original's save hook does"),
                "isVerified set true",
            );
        }
        is_verified = true;
    }
    let mut student_details = f.doc("studentDetails").map(|d| Value::Object(doc_to_json(d)));
    if student {
        student_details.get_or_insert_with(|| json!({}));
    } else if student_details.take().is_some() {
        m.repair(
            format!("studentDetails on a {role} account: not carried (the original removes it on save)"),
            "studentDetails not carried",
        );
    }
    let specializations: Vec<String> = details
        .as_ref()
        .and_then(|d| d.get("specialization"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let experience = details.as_ref().and_then(|d| d.get("experience")).and_then(Value::as_f64).map(|e| e as i64);
    let education = details.as_ref().and_then(|d| d.get("education")).and_then(Value::as_str).map(str::to_string);

    let connections = user_ref_json(f.array("connections"), &id, "connections");
    let message_requests = user_ref_json(f.array("messageRequests"), &id, "messageRequests");
    let direct = f.array("directConnections");
    if !direct.is_empty() {
        m.repair(
            "directConnections entries not carried (the original never wrote them; direct connections are their own collection)",
            format!("{} entries", direct.len()),
        );
    }
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());
    report_rest(&f, "User", &mut m);

    known.users.insert(id.clone(), role.clone());
    known.emails.insert(address.clone(), id.clone());

    m.row(
        Table::Users,
        vec![
            text(Some(id.clone())),
            text(Some(name)),
            text(Some(address)),
            text(Some(password_hash)),
            text(Some(role)),
            text(phone),
            opt_json(address_json),
            text(profile_picture),
            Param::Bool(Some(is_verified)),
            Param::Bool(Some(is_active)),
            json_text(Value::Object(completion)),
            opt_json(details.map(Value::Object)),
            opt_json(student_details),
            json_text(connections),
            json_text(message_requests),
            text(Some(created)),
            text(Some(updated)),
            text(verification_status),
            int(experience),
            text(if lawyer { education } else { None }),
        ],
    );
    if lawyer {
        let mut seen = HashSet::new();
        for s in specializations {
            if seen.insert(s.clone()) {
                m.row(Table::LawyerSpecializations, vec![text(Some(id.clone())), text(Some(s))]);
            }
        }
    }
    m
}

// ---------- direct connections ----------

/// A chatId the original's cleanup script (`scripts/cleanupChatIds.js`) calls malformed: an
/// object printed into it, URL-encoded braces or spaces.
fn malformed_chat_id(chat_id: &str) -> bool {
    chat_id.contains(char::is_whitespace)
        || ["%7B", "%7D", "%20", "ObjectId", "new ", "{", "}"].iter().any(|bad| chat_id.contains(bad))
}

fn direct_chat_id(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("direct_{x}_{y}")
}

/// A reference to a user that must exist; a missing or dangling one is noted as skipping.
fn required_user(known: &Known, key: &'static str, f: &mut Fields, m: &mut Mapped) -> Option<String> {
    let (reason, detail) = match f.get(key).and_then(ref_of) {
        Some(id) if user_exists(known, &id) => return Some(id),
        Some(id) => (format!("dangling reference: {key} not in users"), format!("{key} {id}")),
        None => (format!("{key} missing"), format!("no {key}")),
    };
    m.notes.push(Note { outcome: Outcome::Skipped, reason, detail });
    None
}

pub fn connection(doc: &Document, known: &mut Known) -> Mapped {
    let (id, id_note) = match own_id(doc, "directconnections") {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v"]);
    let citizen = required_user(known, "citizen", &mut f, &mut m);
    let lawyer = required_user(known, "lawyer", &mut f, &mut m);
    let (Some(citizen), Some(lawyer)) = (citizen, lawyer) else {
        m.notes.retain(|n| n.outcome == Outcome::Skipped);
        m.skipped = true;
        return m;
    };
    if let Some(other) = known.pairs.get(&(citizen.clone(), lawyer.clone())).filter(|o| **o != id) {
        return m.skip(
            "a second connection between the same citizen and lawyer",
            format!("connection {other} of the same pair is imported"),
        );
    }
    let status = enum_field(&mut f, "status", &["pending", "accepted", "rejected", "blocked"], "pending", &mut m);
    let request_message = match f.text("requestMessage") {
        Some(t) => t,
        None => {
            m.repair("requestMessage missing: imported empty", "requestMessage set to \"\"");
            String::new()
        }
    };
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let requested_at = date_field(&mut f, "requestedAt", &mut m).unwrap_or_else(|| created.clone());
    let responded_at = date_field(&mut f, "respondedAt", &mut m);
    let response_message = f.text("responseMessage");
    let mut chat_id = f.text("chatId").filter(|c| !c.is_empty());
    if let Some(c) = chat_id.clone()
        && malformed_chat_id(&c)
    {
        let repaired = (status == "accepted").then(|| direct_chat_id(&citizen, &lawyer));
        m.repair(
            "malformed chatId (as the original's cleanup script finds them): replaced",
            format!("chatId {c:?} imported as {repaired:?}"),
        );
        chat_id = repaired;
    }
    if let Some(c) = chat_id.clone()
        && let Some(other) = known.connection_chats.get(&c).filter(|o| **o != id)
    {
        m.repair(
            "chatId already used by another connection: left empty",
            format!("chatId {c:?} belongs to connection {other}"),
        );
        chat_id = None;
    }
    let mut metadata = Map::new();
    if let Some(d) = f.doc("metadata") {
        metadata = doc_to_json(d);
    }
    let allowed = ["general_consultation", "specific_case", "ongoing_support"];
    match metadata.get("connectionType") {
        Some(Value::String(t)) if allowed.contains(&t.as_str()) => {}
        None | Some(Value::Null) => {
            metadata.insert("connectionType".into(), json!("general_consultation"));
        }
        Some(other) => {
            m.repair(
                "unknown metadata.connectionType: imported as general_consultation",
                format!("connectionType {other}"),
            );
            metadata.insert("connectionType".into(), json!("general_consultation"));
        }
    }
    let is_active = f.get("isActive").and_then(bool_of).unwrap_or(true);
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());
    report_rest(&f, "DirectConnection", &mut m);

    known.connections.insert(id.clone(), (citizen.clone(), lawyer.clone()));
    known.pairs.insert((citizen.clone(), lawyer.clone()), id.clone());
    if let Some(c) = &chat_id {
        known.connection_chats.insert(c.clone(), id.clone());
    }
    m.row(
        Table::DirectConnections,
        vec![
            text(Some(id)),
            text(Some(citizen)),
            text(Some(lawyer)),
            text(Some(status)),
            text(Some(request_message)),
            text(Some(requested_at)),
            text(responded_at),
            text(response_message),
            text(chat_id),
            json_text(Value::Object(metadata)),
            Param::Bool(Some(is_active)),
            text(Some(created)),
            text(Some(updated)),
        ],
    );
    m
}

// ---------- queries and disputes ----------

const CATEGORIES: &[&str] = &["civil", "criminal", "family", "property", "corporate", "tax", "labor", "other"];
const DISPUTE_TYPES: &[&str] =
    &["property", "contract", "family", "employment", "business", "consumer", "landlord-tenant", "other"];
const PRIORITIES: &[&str] = &["low", "medium", "high", "urgent"];
const REQUEST_STATUSES: &[&str] = &["pending", "accepted", "rejected"];

pub fn case(doc: &Document, case_type: &'static str, known: &mut Known) -> Mapped {
    let collection = if case_type == "query" { "queries" } else { "disputes" };
    let model = if case_type == "query" { "Query" } else { "Dispute" };
    let (id, id_note) = match own_id(doc, collection) {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v"]);
    let citizen = match f.get("citizen").and_then(ref_of) {
        Some(c) if user_exists(known, &c) => c,
        Some(c) => {
            return m.skip("dangling reference: citizen not in users", format!("citizen {c}"));
        }
        None => return m.skip("citizen missing", "no citizen"),
    };
    let mut assigned = f.get("assignedLawyer").and_then(ref_of);
    if let Some(a) = assigned.clone()
        && !user_exists(known, &a)
    {
        m.repair("dangling reference: assignedLawyer not in users: imported unassigned", format!("assignedLawyer {a}"));
        assigned = None;
    }
    let title = match f.text("title").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => {
            m.repair("title missing: imported as \"(untitled)\"", "title set");
            "(untitled)".into()
        }
    };
    let description = f.text("description").unwrap_or_else(|| {
        m.repair("description missing: imported empty", "description set to \"\"");
        String::new()
    });
    let category = match f.text("category") {
        Some(c) if CATEGORIES.contains(&c.as_str()) => c,
        other => {
            m.repair("unknown or missing category: imported as \"other\"", format!("category {other:?}"));
            "other".into()
        }
    };
    let dispute_type = (case_type == "dispute").then(|| match f.text("disputeType") {
        Some(t) if DISPUTE_TYPES.contains(&t.as_str()) => t,
        other => {
            m.repair("unknown or missing disputeType: imported as \"other\"", format!("disputeType {other:?}"));
            "other".into()
        }
    });
    let statuses: &[&str] = if case_type == "query" {
        &["pending", "assigned", "in-progress", "resolved", "closed"]
    } else {
        &["pending", "assigned", "in-progress", "mediation", "arbitration", "resolved", "closed"]
    };
    let fallback = if assigned.is_some() { "assigned" } else { "pending" };
    let status = enum_field(&mut f, "status", statuses, fallback, &mut m);
    let priority = enum_field(&mut f, "priority", PRIORITIES, "medium", &mut m);
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());

    let mut requests = Vec::new();
    for (list, direction) in [("lawyerRequests", "lawyer"), ("citizenRequests", "citizen")] {
        for (i, item) in f.array(list).iter().enumerate() {
            let Bson::Document(entry) = item else {
                m.repair(
                    format!("{list} entry is not a document: not carried"),
                    format!("{list}[{i}] {}", describe(item)),
                );
                continue;
            };
            let mut e = Fields::new(entry);
            let mut rid = e.get("_id").and_then(id_of).unwrap_or_else(|| derived_id(&format!("{id}/{list}/{i}")));
            if !known.request_ids.insert(id_number(&rid)) {
                let fresh = derived_id(&format!("{id}/{list}/{i}/dup"));
                m.repair(
                    format!("{list} entry id used twice in the dump: a derived id is used"),
                    format!("{rid} imported as {fresh}"),
                );
                rid = fresh;
                known.request_ids.insert(id_number(&rid));
            }
            let lawyer = match e.get("lawyerId").and_then(ref_of) {
                Some(l) if user_exists(known, &l) => l,
                Some(l) => {
                    m.repair(
                        format!("dangling reference: {list} entry's lawyer not in users: entry not carried"),
                        format!("entry {rid} lawyer {l}"),
                    );
                    continue;
                }
                None => {
                    m.repair(format!("{list} entry without lawyerId: not carried"), format!("entry {rid}"));
                    continue;
                }
            };
            let status = match e.text("status") {
                None => "pending".to_string(),
                Some(s) if REQUEST_STATUSES.contains(&s.as_str()) => s,
                Some(s) => {
                    m.repair(
                        format!("unknown {list} entry status: imported as pending"),
                        format!("entry {rid} status {s:?}"),
                    );
                    "pending".into()
                }
            };
            let requested_at = e.get("requestedAt").and_then(date_of).unwrap_or_else(|| created.clone());
            let responded_at = e.get("respondedAt").and_then(date_of);
            let fee = e.get("proposedFee").and_then(number_of);
            requests.push(vec![
                text(Some(rid)),
                text(Some(id.clone())),
                text(Some(direction.to_string())),
                text(Some(lawyer)),
                text(None),
                text(Some(status)),
                e.get("message").and_then(text_of).map(Some).map(text).unwrap_or(text(None)),
                text(fee.map(|n| n.to_string())),
                text(e.get("estimatedDuration").and_then(text_of)),
                text(Some(requested_at)),
                text(responded_at),
            ]);
        }
    }

    let notes = items_json(f.array("notes"), &id, "notes");
    let timeline = items_json(f.array("timeline"), &id, "timeline");
    let documents = items_json(f.array("documents"), &id, "documents");
    let resolution = f.doc("resolution").filter(|d| !d.is_empty()).map(doc_to_json);
    let resolved_at = resolution.as_ref().and_then(|r| r.get("resolvedAt")).and_then(Value::as_str).map(str::to_string);
    let mut details = Map::new();
    if case_type == "dispute" {
        if let Some(party) = f.doc("opposingParty").filter(|d| !d.is_empty()) {
            details.insert("opposingParty".into(), Value::Object(doc_to_json(party)));
        }
        if let Some(raw) = f.get("disputeValue") {
            match number_of(raw) {
                Some(n) => {
                    details.insert("disputeValue".into(), json_number(n));
                }
                None => {
                    m.repair("disputeValue is not a number: not carried", format!("disputeValue {}", describe(raw)))
                }
            }
        }
        details.insert("hearingDates".into(), items_json(f.array("hearingDates"), &id, "hearingDates"));
    }
    report_rest(&f, model, &mut m);

    known.cases.insert(id.clone(), case_type);
    m.row(
        Table::Cases,
        vec![
            text(Some(id)),
            text(Some(case_type.into())),
            text(Some(title)),
            text(Some(description)),
            text(Some(category)),
            text(dispute_type),
            text(Some(status)),
            text(Some(priority)),
            text(Some(citizen)),
            text(assigned),
            json_text(Value::Object(details)),
            json_text(notes),
            json_text(timeline),
            json_text(documents),
            opt_json(resolution.map(Value::Object)),
            text(resolved_at),
            text(Some(created)),
            text(Some(updated)),
        ],
    );
    for r in requests {
        m.row(Table::CaseRequests, r);
    }
    m
}

// ---------- chats ----------

/// `/<caseId>/<caseType>_<caseId>_<millis>`: case chats the original's socket handlers made.
fn legacy_case_chat(chat_id: &str) -> Option<(&'static str, String)> {
    let rest = chat_id.strip_prefix('/')?;
    let (case_id, tail) = rest.split_once('/')?;
    let case_type = if tail.starts_with("query_") {
        "query"
    } else if tail.starts_with("dispute_") {
        "dispute"
    } else {
        return None;
    };
    id_of(&Bson::String(case_id.to_string())).map(|id| (case_type, id))
}

struct MessageRow {
    id: String,
    sender: String,
    content: String,
    message_type: String,
    file_data: Option<Value>,
    attachments: Value,
    at: crate::time::Timestamp,
    edited_at: Option<String>,
    is_deleted: bool,
    reads: Vec<(String, String)>,
}

pub fn chat(doc: &Document, known: &mut Known) -> Mapped {
    let (id, id_note) = match own_id(doc, "chats") {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v"]);

    let related = f.doc("relatedCase").filter(|d| !d.is_empty());
    let mut related_type = related.and_then(|d| d.get("caseType")).and_then(text_of);
    let related_id = related.and_then(|d| d.get("caseId")).and_then(ref_of);
    let raw_chat_id = f.text("chatId").filter(|c| !c.trim().is_empty());
    let raw_type = f.text("chatType");
    let chat_type = match raw_type.as_deref() {
        Some(t @ ("direct" | "query" | "dispute")) => t.to_string(),
        other => {
            let inferred = raw_chat_id
                .as_deref()
                .and_then(|c| {
                    if c.starts_with("direct_") {
                        Some("direct")
                    } else if c.starts_with("query_") {
                        Some("query")
                    } else if c.starts_with("dispute_") {
                        Some("dispute")
                    } else {
                        legacy_case_chat(c).map(|(t, _)| t)
                    }
                })
                .or(related_type
                    .as_deref()
                    .filter(|t| ["query", "dispute"].contains(t))
                    .map(|t| if t == "query" { "query" } else { "dispute" }));
            match inferred {
                Some(t) => {
                    m.repair(
                        "unknown or missing chatType: read from the chatId",
                        format!("chatType {other:?} imported as {t:?}"),
                    );
                    t.to_string()
                }
                None => {
                    return m.skip("unknown or missing chatType", format!("chatType {other:?}"));
                }
            }
        }
    };
    if chat_type != "direct" && related_type.is_none() && related_id.is_some() {
        related_type = Some(chat_type.clone());
    }
    if let Some(case_id) = &related_id
        && !known.cases.contains_key(case_id)
    {
        m.repair(
            "dangling reference: relatedCase not in queries or disputes: kept",
            format!("relatedCase.caseId {case_id}"),
        );
    }

    // Participants: users that exist, once each, with their role in the chat.
    let mut participants: Vec<(String, String, Option<String>)> = Vec::new();
    for (i, item) in f.array("participants").iter().enumerate() {
        let Bson::Document(p) = item else { continue };
        let Some(user) = p.get("user").and_then(ref_of) else {
            m.repair("participant without user: not carried", format!("participants[{i}]"));
            continue;
        };
        let Some(user_role) = known.users.get(&user) else {
            m.repair("dangling reference: participant not in users: not carried", format!("participant {user}"));
            continue;
        };
        if participants.iter().any(|(u, _, _)| *u == user) {
            m.repair("participant listed twice: carried once", format!("participant {user}"));
            continue;
        }
        let role = match p.get("role").and_then(text_of) {
            Some(r) if ["citizen", "lawyer", "admin"].contains(&r.as_str()) => r,
            other => {
                if other.is_some() {
                    m.repair(
                        "unknown participant role: the user's role is used",
                        format!("participant {user} role {other:?}"),
                    );
                }
                user_role.clone()
            }
        };
        participants.push((user, role, p.get("joinedAt").and_then(date_of)));
    }

    let chat_id = match raw_chat_id.clone() {
        Some(c) => c,
        None => {
            let derived = match (&chat_type[..], &related_id) {
                ("direct", _) if participants.len() == 2 => direct_chat_id(&participants[0].0, &participants[1].0),
                (t, Some(case_id)) if t != "direct" => {
                    crate::store::chats::case_chat_id(t, &crate::ids::Id::try_from(case_id.clone()).unwrap_or_default())
                }
                _ => return m.skip("chatId missing and not derivable", "no chatId"),
            };
            m.repair("chatId missing: derived from the chat", format!("chatId set to {derived:?}"));
            derived
        }
    };
    // The public chatId nyaya's routes look for: `direct_<a>_<b>`, `<caseType>_<caseId>`.
    let mut wanted = chat_id.clone();
    if chat_type == "direct" && malformed_chat_id(&chat_id) && participants.len() == 2 {
        wanted = direct_chat_id(&participants[0].0, &participants[1].0);
    } else if let Some((t, case_id)) = legacy_case_chat(&chat_id) {
        wanted = format!("{t}_{case_id}");
    }
    let taken = |c: &str| known.chat_ids.get(c).is_some_and(|other| *other != id);
    let mut chat_id_final = chat_id.clone();
    if wanted != chat_id {
        if taken(&wanted) {
            m.repair(
                "old-format chatId whose current form another chat holds: kept as stored",
                format!("chatId {chat_id:?} (current form {wanted:?} belongs to chat {})", known.chat_ids[&wanted]),
            );
        } else {
            m.repair(
                "old-format chatId: imported in the current form, so every route finds the chat",
                format!("chatId {chat_id:?} imported as {wanted:?}"),
            );
            chat_id_final = wanted;
        }
    }
    if taken(&chat_id_final) {
        let unique = format!("{chat_id_final}~{id}");
        m.repair(
            "chatId already used by another chat: made unique",
            format!("chatId {chat_id_final:?} imported as {unique:?}"),
        );
        chat_id_final = unique;
    }

    let status = match f.text("status") {
        Some(s) if ["pending", "active", "closed"].contains(&s.as_str()) => s,
        other => {
            let default = if chat_type == "direct" { "pending" } else { "active" };
            if other.is_some() {
                m.repair(
                    "unknown chat status: imported as the model's default".to_string(),
                    format!("status {other:?} imported as {default:?}"),
                );
            }
            default.to_string()
        }
    };
    let direct_connection = f.get("directConnection").and_then(ref_of);
    if let Some(c) = &direct_connection
        && !known.connections.contains_key(c)
    {
        m.repair(
            "dangling reference: directConnection not in directconnections: kept",
            format!("directConnection {c}"),
        );
    }
    let is_active = f.get("isActive").and_then(bool_of).unwrap_or(true);
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());

    // Messages, oldest first. nyaya keeps a chat's message times strictly increasing (the
    // history's order and the lastMessage depend on it): a message that shares its
    // millisecond with the one before is stored 1 ms later, and reported.
    let mut messages: Vec<MessageRow> = Vec::new();
    for (i, item) in f.array("messages").iter().enumerate() {
        let Bson::Document(msg) = item else {
            m.repair("message is not a document: not carried", format!("messages[{i}] {}", describe(item)));
            continue;
        };
        let mut mid = msg.get("_id").and_then(id_of).unwrap_or_else(|| derived_id(&format!("{id}/messages/{i}")));
        if !known.message_ids.insert(id_number(&mid)) {
            let fresh = derived_id(&format!("{id}/messages/{i}/dup"));
            m.repair(
                "message id used twice in the dump: a derived id is used",
                format!("message {mid} imported as {fresh}"),
            );
            mid = fresh;
            known.message_ids.insert(id_number(&mid));
        }
        let sender = match msg.get("sender").and_then(ref_of) {
            Some(s) if user_exists(known, &s) => s,
            Some(s) => {
                m.repair(
                    "dangling reference: message sender not in users: message not carried",
                    format!("message {mid} sender {s}"),
                );
                continue;
            }
            None => {
                m.repair("message without sender: not carried", format!("message {mid}"));
                continue;
            }
        };
        let message_type = match msg.get("messageType").and_then(text_of) {
            None => "text".to_string(),
            Some(t) if ["text", "file", "image", "system"].contains(&t.as_str()) => t,
            Some(t) => {
                m.repair("unknown messageType: imported as text", format!("message {mid} messageType {t:?}"));
                "text".into()
            }
        };
        let content = msg
            .get("content")
            .and_then(text_of)
            .unwrap_or_else(|| if message_type == "file" { "File attachment".into() } else { String::new() });
        let at = msg
            .get("timestamp")
            .and_then(date_of)
            .or_else(|| match msg.get("_id") {
                Some(Bson::ObjectId(oid)) => {
                    m.repair("message timestamp missing: the ObjectId's time is used", format!("message {mid}"));
                    super::value::iso_millis(oid.timestamp().timestamp_millis())
                }
                _ => None,
            })
            .unwrap_or_else(|| {
                m.repair("message timestamp missing: the chat's creation time is used", format!("message {mid}"));
                created.clone()
            });
        let at = crate::time::parse(&at).unwrap_or_else(crate::time::now);
        let file_data = msg.get("fileData").filter(|v| !is_blank(Some(v))).map(to_json);
        let attachments = match msg.get("attachments") {
            Some(Bson::Array(items)) => items_json(items, &mid, "attachments"),
            _ => json!([]),
        };
        let mut reads: Vec<(String, String)> = Vec::new();
        if let Some(Bson::Array(items)) = msg.get("isRead") {
            for r in items {
                let Bson::Document(r) = r else { continue };
                let Some(user) = r.get("user").and_then(ref_of) else {
                    continue;
                };
                if !user_exists(known, &user) {
                    m.repair(
                        "dangling reference: read receipt's user not in users: receipt not carried",
                        format!("message {mid} reader {user}"),
                    );
                    continue;
                }
                if reads.iter().any(|(u, _)| *u == user) {
                    continue;
                }
                let read_at = r.get("readAt").and_then(date_of).unwrap_or_else(|| crate::time::iso(at));
                reads.push((user, read_at));
            }
        }
        messages.push(MessageRow {
            id: mid,
            sender,
            content,
            message_type,
            file_data,
            attachments,
            at,
            edited_at: msg.get("editedAt").and_then(date_of),
            is_deleted: msg.get("isDeleted").and_then(bool_of).unwrap_or(false),
            reads,
        });
    }
    messages.sort_by_key(|msg| msg.at);
    let mut previous: Option<crate::time::Timestamp> = None;
    for msg in &mut messages {
        if let Some(prev) = previous.filter(|p| msg.at <= *p) {
            let moved = prev + chrono::Duration::milliseconds(1);
            m.repair(
                "message in the same millisecond as the one before it in its chat: stored 1 ms later",
                format!("message {} at {} stored at {}", msg.id, crate::time::iso(msg.at), crate::time::iso(moved)),
            );
            msg.at = moved;
        }
        previous = Some(msg.at);
    }

    // lastMessage: the newest message (the database maintains it as messages are stored);
    // for a chat without messages, the stored one.
    let last = f.doc("lastMessage").filter(|d| !d.is_empty());
    let mut last_columns = (None, None, None);
    match messages.last() {
        Some(newest) => {
            if let Some(l) = last {
                let same = l.get("content").and_then(text_of).as_deref() == Some(newest.content.as_str())
                    && l.get("sender").and_then(ref_of).as_deref() == Some(newest.sender.as_str());
                if !same {
                    m.repair(
                        "lastMessage differed from the newest message: the newest message is the lastMessage",
                        "lastMessage replaced",
                    );
                }
            }
        }
        None => {
            if let Some(l) = last {
                let content = l.get("content").and_then(text_of);
                let sender = l.get("sender").and_then(ref_of);
                let at = l.get("timestamp").and_then(date_of);
                if let (Some(c), Some(s), Some(t)) = (content, sender, at) {
                    last_columns = (Some(c), Some(s), Some(t));
                } else {
                    m.repair(
                        "incomplete lastMessage on a chat without messages: not carried",
                        "lastMessage not carried",
                    );
                }
            }
        }
    }
    report_rest(&f, "Chat", &mut m);

    known.chat_ids.insert(chat_id_final.clone(), id.clone());
    m.row(
        Table::Chats,
        vec![
            text(Some(id.clone())),
            text(Some(chat_id_final)),
            text(Some(chat_type)),
            text(Some(status)),
            text(related_type),
            text(related_id),
            text(direct_connection),
            text(last_columns.0),
            text(last_columns.1),
            text(last_columns.2),
            Param::Bool(Some(is_active)),
            text(Some(created.clone())),
            text(Some(updated.clone())),
        ],
    );
    for (user, role, joined) in participants {
        m.row(
            Table::ChatParticipants,
            vec![
                text(Some(id.clone())),
                text(Some(user)),
                text(Some(role)),
                text(Some(joined.unwrap_or_else(|| created.clone()))),
            ],
        );
    }
    let newest = messages.last().map(|msg| crate::time::iso(msg.at));
    for msg in &messages {
        m.row(
            Table::Messages,
            vec![
                text(Some(msg.id.clone())),
                text(Some(id.clone())),
                text(Some(msg.sender.clone())),
                text(Some(msg.content.clone())),
                text(Some(msg.message_type.clone())),
                opt_json(msg.file_data.clone()),
                json_text(msg.attachments.clone()),
                text(Some(crate::time::iso(msg.at))),
                text(msg.edited_at.clone()),
                Param::Bool(Some(msg.is_deleted)),
            ],
        );
    }
    for msg in messages {
        for (user, at) in msg.reads {
            m.row(Table::MessageReads, vec![text(Some(msg.id.clone())), text(Some(user)), text(Some(at))]);
        }
    }
    // Storing messages moves the chat's updatedAt to the newest one; the dump's value wins.
    if newest.is_some_and(|n| n != updated) {
        m.after.push(Sql::new("UPDATE chats SET updated_at = $2 WHERE id = $1").arg(id).arg(updated));
    }
    m
}

// ---------- documents ----------

const DOCUMENT_CATEGORIES: &[&str] = &[
    "evidence",
    "contract",
    "agreement",
    "legal_notice",
    "court_order",
    "affidavit",
    "power_of_attorney",
    "identity_proof",
    "address_proof",
    "financial_document",
    "correspondence",
    "other",
];

/// Copies `<from>/<hash>` into the uploads folder by its SHA-256, returning the storage key;
/// `None` when the file is not there.
fn bring_file(files: &Files, hash: &str) -> std::io::Result<Option<String>> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    if hash.contains(['/', '\\']) || hash.starts_with('.') {
        return Ok(None);
    }
    let path = files.from.join(hash);
    if !path.is_file() {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    let mut input = std::fs::File::open(&path)?;
    let tmp_dir = files.uploads.join("tmp");
    let tmp = tmp_dir.join(format!("import-{}.part", crate::ids::random_hex(8)));
    let mut out = if files.dry_run {
        None
    } else {
        std::fs::create_dir_all(&tmp_dir)?;
        Some(std::fs::File::create(&tmp)?)
    };
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(out) = out.as_mut() {
            out.write_all(&buf[..n])?;
        }
    }
    let digest = hex::encode(hasher.finalize());
    let key = crate::storage::content_key(&digest)?;
    if let Some(out) = out {
        out.sync_all()?;
        let dest = files.uploads.join(&key);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if dest.exists() {
            std::fs::remove_file(&tmp)?;
        } else {
            std::fs::rename(&tmp, &dest)?;
        }
    }
    Ok(Some(key))
}

pub fn document(doc: &Document, known: &mut Known, files: Option<&Files>) -> Mapped {
    let (id, id_note) = match own_id(doc, "documents") {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v", "id", "sizeFormatted", "timeAgo"]);
    let Some(hash) = f.text("ipfsHash").map(|h| h.trim().to_string()).filter(|h| !h.is_empty()) else {
        return m.skip("ipfsHash missing: the document names no file", "no ipfsHash");
    };
    let uploader = match f.get("uploadedBy").and_then(ref_of) {
        Some(u) if user_exists(known, &u) => u,
        Some(u) => {
            return m.skip("dangling reference: uploadedBy not in users", format!("uploadedBy {u}"));
        }
        None => return m.skip("uploadedBy missing", "no uploadedBy"),
    };
    let related_model = f.text("relatedModel");
    let document_type = match f.text("documentType") {
        Some(t) if ["direct", "query", "dispute"].contains(&t.as_str()) => t,
        other => {
            let inferred = match related_model.as_deref() {
                Some("Query") => Some("query"),
                Some("Dispute") => Some("dispute"),
                Some("DirectConnection") => Some("direct"),
                _ => None,
            };
            match inferred {
                Some(t) => {
                    m.repair(
                        "unknown or missing documentType: read from relatedModel",
                        format!("documentType {other:?} imported as {t:?}"),
                    );
                    t.to_string()
                }
                None => {
                    return m.skip("unknown or missing documentType", format!("documentType {other:?}"));
                }
            }
        }
    };
    let model_of_type = match document_type.as_str() {
        "query" => "Query",
        "dispute" => "Dispute",
        _ => "DirectConnection",
    };
    let related_model = match related_model {
        Some(r) if r == model_of_type => r,
        other => {
            if other.is_some() {
                m.repair(
                    "relatedModel disagreed with documentType: the type decides",
                    format!("relatedModel {other:?} imported as {model_of_type:?}"),
                );
            }
            model_of_type.to_string()
        }
    };
    let Some(related) = f.get("relatedId").and_then(ref_of) else {
        return m.skip("relatedId missing", "no relatedId");
    };
    let related_known = match document_type.as_str() {
        "direct" => known.connections.contains_key(&related),
        t => known.cases.get(&related).is_some_and(|ct| *ct == t),
    };
    if !related_known {
        m.repair(
            "dangling reference: relatedId not in its collection: kept",
            format!("relatedId {related} ({related_model})"),
        );
    }
    if let Some(other) =
        known.document_keys.get(&(hash.clone(), document_type.clone(), related.clone())).filter(|o| **o != id)
    {
        return m.skip("the same file is on the same record twice", format!("ipfsHash {hash} is document {other}"));
    }
    let user_role = known.users.get(&uploader).cloned().unwrap_or_default();
    let uploaded_by_role = match f.text("uploadedByRole") {
        Some(r) if ["citizen", "lawyer"].contains(&r.as_str()) => r,
        other => {
            m.repair(
                "unknown or missing uploadedByRole: the uploader's role is used",
                format!("uploadedByRole {other:?} imported as {user_role:?}"),
            );
            user_role
        }
    };
    let mut access: Vec<(String, String)> = Vec::new();
    for item in f.array("accessibleTo") {
        let Bson::Document(a) = item else { continue };
        let Some(user) = a.get("userId").and_then(ref_of) else {
            continue;
        };
        let Some(role_of_user) = known.users.get(&user) else {
            m.repair("dangling reference: accessibleTo user not in users: not carried", format!("accessibleTo {user}"));
            continue;
        };
        if access.iter().any(|(u, _)| *u == user) {
            continue;
        }
        let role = match a.get("role").and_then(text_of) {
            Some(r) if ["citizen", "lawyer", "admin"].contains(&r.as_str()) => r,
            _ => role_of_user.clone(),
        };
        access.push((user, role));
    }
    let original_name =
        f.text("originalName").map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| {
            m.repair("originalName missing: imported as the ipfsHash", "originalName set");
            hash.clone()
        });
    let mime_type = f.text("mimeType").unwrap_or_else(|| {
        m.repair("mimeType missing: imported as application/octet-stream", "mimeType set");
        "application/octet-stream".into()
    });
    let url = f.text("url").unwrap_or_else(|| {
        m.repair("url missing: imported empty", "url set to \"\"");
        String::new()
    });
    let size = match f.get("size").and_then(number_of) {
        Some(n) if n >= 0.0 => n.round() as i64,
        other => {
            m.repair("size missing or negative: imported as 0", format!("size {other:?}"));
            0
        }
    };
    let description = f.text("description");
    let tags: Vec<String> = f.array("tags").iter().filter_map(text_of).map(|t| t.trim().to_lowercase()).collect();
    let category = enum_field(&mut f, "documentCategory", DOCUMENT_CATEGORIES, "other", &mut m);
    let is_verified = f.get("isVerified").and_then(bool_of).unwrap_or(false);
    let verified_by = f.get("verifiedBy").and_then(ref_of);
    let verified_at = date_field(&mut f, "verifiedAt", &mut m);
    let metadata = f.doc("pinataMetadata").map(|d| Value::Object(doc_to_json(d))).unwrap_or_else(|| json!({}));
    let status = enum_field(&mut f, "status", &["active", "archived", "deleted"], "active", &mut m);
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let uploaded_at = date_field(&mut f, "uploadedAt", &mut m).unwrap_or_else(|| created.clone());
    let last_accessed = date_field(&mut f, "lastAccessedAt", &mut m).unwrap_or_else(|| uploaded_at.clone());
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());
    report_rest(&f, "Document", &mut m);

    // The file: moved into nyaya's uploads when `--files` has it, else it stays at its url.
    let mut storage_key = ipfs_key(&hash);
    if let Some(files) = files {
        match bring_file(files, &hash) {
            Ok(Some(key)) => storage_key = key,
            Ok(None) => m.repair("file not in --files: it stays at its IPFS url", format!("{hash} not found")),
            Err(e) => m.repair("file in --files could not be copied: it stays at its IPFS url", format!("{hash}: {e}")),
        }
    }
    if let Some(current) = known.document_storage.get(&id)
        && current.starts_with("ipfs/")
        && !storage_key.starts_with("ipfs/")
    {
        m.attach_file = Some((id.clone(), storage_key.clone()));
    }

    known.document_keys.insert((hash.clone(), document_type.clone(), related.clone()), id.clone());
    m.row(
        Table::Documents,
        vec![
            text(Some(id.clone())),
            text(Some(original_name)),
            text(Some(hash)),
            text(Some(storage_key)),
            text(Some(mime_type)),
            text(Some(url)),
            int(Some(size)),
            text(Some(document_type)),
            text(Some(related)),
            text(Some(related_model)),
            text(Some(uploader)),
            text(Some(uploaded_by_role)),
            text(description),
            json_text(json!(tags)),
            text(Some(category)),
            Param::Bool(Some(is_verified)),
            text(verified_by),
            text(verified_at),
            json_text(metadata),
            text(Some(status)),
            text(Some(uploaded_at)),
            text(Some(last_accessed)),
            text(Some(created)),
            text(Some(updated)),
        ],
    );
    for (user, role) in access {
        m.row(Table::DocumentAccess, vec![text(Some(id.clone())), text(Some(user)), text(Some(role))]);
    }
    m
}

// ---------- consultations ----------

pub fn consultation(doc: &Document, known: &mut Known) -> Mapped {
    let (id, id_note) = match own_id(doc, "consultations") {
        Ok(v) => v,
        Err(skipped) => return *skipped,
    };
    let mut m = Mapped::new(id.clone());
    m.notes.extend(id_note);
    let mut f = Fields::new(doc);
    f.skip(&["__v"]);
    let mut parties = Vec::new();
    for key in ["citizen", "lawyer"] {
        match f.get(key).and_then(ref_of) {
            Some(u) if user_exists(known, &u) => parties.push(u),
            Some(u) => {
                return m.skip(format!("dangling reference: {key} not in users"), format!("{key} {u}"));
            }
            None => return m.skip(format!("{key} missing"), format!("no {key}")),
        }
    }
    let consultation_type = match f.text("consultationType") {
        Some(t) if ["video", "audio", "in-person"].contains(&t.as_str()) => t,
        other => {
            return m.skip("unknown or missing consultationType", format!("consultationType {other:?}"));
        }
    };
    let Some(scheduled) = f.get("scheduledDateTime").and_then(date_of) else {
        return m.skip("scheduledDateTime missing or not a date", "no scheduledDateTime");
    };
    let title = f.text("title").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).unwrap_or_else(|| {
        m.repair("title missing: imported as \"Consultation\"", "title set");
        "Consultation".into()
    });
    let description = f.text("description");
    let related_case = f.doc("relatedCase").filter(|d| !d.is_empty()).map(|d| Value::Object(doc_to_json(d)));
    let status = enum_field(
        &mut f,
        "status",
        &["requested", "scheduled", "confirmed", "in-progress", "completed", "cancelled", "rescheduled"],
        "requested",
        &mut m,
    );
    let duration = f.get("duration").and_then(number_of).map(|n| n.round() as i64).unwrap_or(30);
    let mut fee = Map::new();
    fee.insert("currency".into(), json!("INR"));
    fee.insert("paymentStatus".into(), json!("pending"));
    if let Some(d) = f.doc("fee") {
        fee.extend(doc_to_json(d));
    }
    let object = |f: &mut Fields<'_>, key: &'static str| f.doc(key).map(|d| Value::Object(doc_to_json(d)));
    let meeting = object(&mut f, "meetingDetails").unwrap_or_else(|| json!({}));
    let agenda = items_json(f.array("agenda"), &id, "agenda");
    let notes = object(&mut f, "notes").unwrap_or_else(|| json!({}));
    let mut follow_up = Map::new();
    follow_up.insert("required".into(), json!(false));
    if let Some(d) = f.doc("followUp") {
        follow_up.extend(doc_to_json(d));
    }
    let optional = |f: &mut Fields<'_>, key: &'static str| {
        f.doc(key).filter(|d| !d.is_empty()).map(|d| Value::Object(doc_to_json(d)))
    };
    let cancellation = optional(&mut f, "cancellation");
    let reschedule = optional(&mut f, "reschedule");
    let feedback = optional(&mut f, "feedback");
    let reminders = items_json(f.array("reminders"), &id, "reminders");
    let created = created_at(&mut f, doc, "createdAt", &mut m);
    let updated = f.get("updatedAt").and_then(date_of).unwrap_or_else(|| created.clone());
    report_rest(&f, "Consultation", &mut m);

    let lawyer = parties.pop().unwrap_or_default();
    let citizen = parties.pop().unwrap_or_default();
    m.row(
        Table::Consultations,
        vec![
            text(Some(id)),
            text(Some(title)),
            text(description),
            text(Some(citizen)),
            text(Some(lawyer)),
            opt_json(related_case),
            text(Some(consultation_type)),
            text(Some(status)),
            text(Some(scheduled)),
            int(Some(duration)),
            json_text(Value::Object(fee)),
            json_text(meeting),
            json_text(agenda),
            json_text(notes),
            json_text(Value::Object(follow_up)),
            opt_json(cancellation),
            opt_json(reschedule),
            opt_json(feedback),
            json_text(reminders),
            text(Some(created)),
            text(Some(updated)),
        ],
    );
    m
}
