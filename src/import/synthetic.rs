//! Dumps of the original's shape, of any size, for measuring the import
//! (`nyaya mongo-dump-synthetic`, bench/import_mongo.sh): users of every role, accepted
//! direct connections each with its chat and message history (read receipts included),
//! queries and disputes with offers, notes and timelines, documents and consultations,
//! written as `mongodump` writes them (one BSON file per collection, optionally gzipped, each
//! with its metadata file).
//!
//! Every account has the same bcrypt hash (cost 10) of [`PASSWORD`]: hashing 100,000
//! passwords would take hours and tells nothing about the import, which carries hashes as
//! they are.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};

pub const PASSWORD: &str = "Imported1";

/// How much to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub users: usize,
    pub messages: usize,
    /// Messages per chat (so `messages / per_chat` chats and direct connections).
    pub per_chat: usize,
    pub gzip: bool,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub users: usize,
    pub connections: usize,
    pub chats: usize,
    pub messages: usize,
    pub cases: usize,
    pub documents: usize,
    pub consultations: usize,
    pub bytes: u64,
}

/// ObjectIds with increasing times from a fixed start (a deterministic dump).
struct Ids {
    secs: u32,
    counter: u32,
}

impl Ids {
    fn next(&mut self, step_secs: u32) -> ObjectId {
        self.secs += step_secs;
        self.counter += 1;
        let c = self.counter.to_be_bytes();
        ObjectId::from_parts(self.secs, [0x6e, 0x79, 0x61, 0x79, 0x61], [c[1], c[2], c[3]])
    }
}

fn at(secs: u32) -> DateTime {
    DateTime::from_millis(i64::from(secs) * 1000 + i64::from(secs % 997))
}

struct Out {
    file: Box<dyn Write>,
    path: std::path::PathBuf,
}

impl Out {
    fn create(dir: &Path, collection: &str, gzip: bool) -> io::Result<Out> {
        let name = if gzip { format!("{collection}.bson.gz") } else { format!("{collection}.bson") };
        let path = dir.join(name);
        let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let file: Box<dyn Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()))
        } else {
            Box::new(file)
        };
        let metadata = serde_json::json!({"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}], "uuid": "", "collectionName": collection, "type": "collection"});
        let meta_name =
            if gzip { format!("{collection}.metadata.json.gz") } else { format!("{collection}.metadata.json") };
        let mut meta: Box<dyn Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(
                std::fs::File::create(dir.join(meta_name))?,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(std::fs::File::create(dir.join(meta_name))?)
        };
        meta.write_all(metadata.to_string().as_bytes())?;
        meta.flush()?;
        Ok(Out { file, path })
    }

    fn put(&mut self, d: &Document) -> io::Result<()> {
        d.to_writer(&mut self.file).map_err(io::Error::other)
    }

    fn close(mut self) -> io::Result<u64> {
        self.file.flush()?;
        drop(self.file);
        Ok(std::fs::metadata(&self.path)?.len())
    }
}

const SPECIALIZATIONS: &[&str] =
    &["Criminal Law", "Family Law", "Property Law", "Corporate Law", "Tax Law", "Labour Law"];

/// Writes a dump of `plan`'s size into `dir` (created if needed).
pub fn write(dir: &Path, plan: &Plan) -> anyhow::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let hash = bcrypt::hash(PASSWORD, 10)?;
    let mut ids = Ids { secs: 1_720_000_000, counter: 0 };
    let mut w = Written::default();

    // Users: one admin, 10% lawyers (most verified), 2% law students, citizens.
    let lawyers_n = (plan.users / 10).max(1);
    let students_n = plan.users / 50;
    let citizens_n = plan.users.saturating_sub(lawyers_n + students_n + 1).max(1);
    let mut citizens = Vec::with_capacity(citizens_n);
    let mut lawyers = Vec::with_capacity(lawyers_n);
    let mut out = Out::create(dir, "users", plan.gzip)?;
    for i in 0..lawyers_n + students_n + citizens_n + 1 {
        let id = ids.next(1);
        let created = at(ids.secs);
        let mut d =
            doc! {"_id": id, "name": format!("User {i}"), "email": format!("user{i}@example.org"), "password": &hash};
        if i == 0 {
            d.insert("role", "admin");
            d.insert("isVerified", true);
        } else if i <= lawyers_n {
            let verified = i % 5 != 0;
            d.insert("role", "lawyer");
            d.insert("isVerified", verified);
            d.insert("phone", format!("98{:08}", i));
            d.insert(
                "lawyerDetails",
                doc! {
                    "barRegistrationNumber": format!("BAR/{i}"),
                    "specialization": [SPECIALIZATIONS[i % SPECIALIZATIONS.len()], SPECIALIZATIONS[(i + 1) % SPECIALIZATIONS.len()]],
                    "experience": (i % 30) as i32,
                    "education": "LLB",
                    "verificationStatus": if verified { "verified" } else { "pending" },
                    "verificationDocuments": [],
                    "consultationFee": 500 + (i % 10) as i32 * 100,
                },
            );
            d.insert(
                "profileCompletion",
                doc! {"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": false},
            );
            lawyers.push(id);
        } else if i <= lawyers_n + students_n {
            d.insert("role", "law_student");
            d.insert("isVerified", true);
            d.insert(
                "studentDetails",
                doc! {"universityName": "National Law School", "enrollmentYear": 2023, "semester": "3rd"},
            );
        } else {
            d.insert("role", "citizen");
            d.insert("isVerified", true);
            d.insert("address", doc! {"city": "Pune", "state": "MH"});
            d.insert(
                "profileCompletion",
                doc! {"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true},
            );
            citizens.push(id);
        }
        d.insert("isActive", true);
        d.insert("profilePicture", Bson::Null);
        d.insert("messageRequests", Vec::<Bson>::new());
        d.insert("directConnections", Vec::<Bson>::new());
        d.insert("connections", Vec::<Bson>::new());
        d.insert("createdAt", created);
        d.insert("updatedAt", created);
        d.insert("__v", 0);
        out.put(&d)?;
        w.users += 1;
    }
    w.bytes += out.close()?;

    // One accepted connection and its direct chat per `per_chat` messages.
    let chats_n = plan.messages.div_ceil(plan.per_chat.max(1)).min(citizens.len() * lawyers.len());
    let mut conns = Out::create(dir, "directconnections", plan.gzip)?;
    let mut chats = Out::create(dir, "chats", plan.gzip)?;
    let mut left = plan.messages;
    let mut connection_ids = Vec::with_capacity(chats_n);
    for c in 0..chats_n {
        let citizen = citizens[c % citizens.len()];
        let lawyer = lawyers[(c / citizens.len() + c) % lawyers.len()];
        let conn_id = ids.next(1);
        let start = ids.secs;
        let (a, b) = if citizen.to_hex() <= lawyer.to_hex() { (citizen, lawyer) } else { (lawyer, citizen) };
        let chat_key = format!("direct_{}_{}", a.to_hex(), b.to_hex());
        conns.put(&doc! {
            "_id": conn_id, "citizen": citizen, "lawyer": lawyer, "status": "accepted",
            "requestMessage": "I need help with a tenancy matter.", "requestedAt": at(start),
            "respondedAt": at(start + 60), "responseMessage": "Happy to help.", "chatId": &chat_key,
            "metadata": {"connectionType": "general_consultation", "lawyerSpecialization": []},
            "isActive": true, "createdAt": at(start), "updatedAt": at(start + 60), "__v": 0,
        })?;
        w.connections += 1;
        connection_ids.push(conn_id);
        let n = plan.per_chat.min(left);
        left -= n;
        let mut messages = Vec::with_capacity(n);
        let mut secs = start + 120;
        for k in 0..n {
            secs += 1 + (k as u32 * 7) % 50;
            let (sender, reader) = if k % 2 == 0 { (citizen, lawyer) } else { (lawyer, citizen) };
            let mut m = doc! {
                "sender": sender, "content": format!("Message {k} of chat {c}: the hearing is next week."),
                "messageType": "text", "attachments": [], "timestamp": at(secs), "isDeleted": false,
                "_id": ids.next(0),
            };
            // Everything but the last two messages has been read by the other party.
            let reads: Vec<Bson> = if k + 2 < n {
                vec![Bson::Document(doc! {"user": reader, "readAt": at(secs + 30), "_id": ids.next(0)})]
            } else {
                vec![]
            };
            m.insert("isRead", reads);
            messages.push(Bson::Document(m));
        }
        w.messages += n;
        let mut chat = doc! {
            "_id": ids.next(0), "chatId": &chat_key,
            "participants": [
                {"user": citizen, "role": "citizen", "joinedAt": at(start + 60), "_id": ids.next(0)},
                {"user": lawyer, "role": "lawyer", "joinedAt": at(start + 60), "_id": ids.next(0)},
            ],
            "chatType": "direct", "status": "active", "directConnection": conn_id,
        };
        if let Some(Bson::Document(last)) = messages.last() {
            chat.insert("lastMessage", doc! {"content": last.get("content").cloned().unwrap_or(Bson::Null), "timestamp": last.get("timestamp").cloned().unwrap_or(Bson::Null), "sender": last.get("sender").cloned().unwrap_or(Bson::Null)});
        }
        chat.insert("messages", messages);
        chat.insert("isActive", true);
        chat.insert("createdAt", at(start + 60));
        chat.insert("updatedAt", at(secs));
        chat.insert("__v", 0);
        chats.put(&chat)?;
        w.chats += 1;
        ids.secs = ids.secs.max(secs);
    }
    w.bytes += conns.close()? + chats.close()?;

    // Cases: a query per 10 users and a dispute per 20, with an offer, a note and a timeline.
    for (collection, kind, count) in [("queries", "query", plan.users / 10), ("disputes", "dispute", plan.users / 20)] {
        let mut out = Out::create(dir, collection, plan.gzip)?;
        for i in 0..count {
            let id = ids.next(1);
            let citizen = citizens[i % citizens.len()];
            let lawyer = lawyers[i % lawyers.len()];
            let created = at(ids.secs);
            let assigned = i % 3 == 0;
            let mut d = doc! {
                "_id": id, "title": format!("{kind} {i}"), "description": "Landlord keeps the deposit.",
                "category": "property", "status": if assigned { "assigned" } else { "pending" }, "priority": "medium",
                "citizen": citizen, "assignedLawyer": if assigned { Bson::ObjectId(lawyer) } else { Bson::Null },
                "lawyerRequests": [{"lawyerId": lawyer, "status": if assigned { "accepted" } else { "pending" }, "requestedAt": created, "message": "I can take this.", "_id": ids.next(0)}],
                "citizenRequests": [], "documents": [],
                "notes": [{"author": citizen, "content": "Receipts attached.", "createdAt": created, "_id": ids.next(0)}],
                "timeline": [{"action": "created", "description": format!("{kind} created"), "performedBy": citizen, "timestamp": created, "_id": ids.next(0)}],
                "createdAt": created, "updatedAt": created, "__v": 0,
            };
            if kind == "dispute" {
                d.insert("disputeType", "landlord-tenant");
                d.insert("opposingParty", doc! {"name": "A. Landlord", "contact": "9000000000"});
                d.insert("disputeValue", 50_000);
                d.insert("hearingDates", Vec::<Bson>::new());
            }
            out.put(&d)?;
            w.cases += 1;
        }
        w.bytes += out.close()?;
    }

    // Documents on direct connections and consultations between connected pairs.
    let mut docs = Out::create(dir, "documents", plan.gzip)?;
    let mut consults = Out::create(dir, "consultations", plan.gzip)?;
    for i in 0..(plan.users / 20).min(chats_n) {
        let citizen = citizens[i % citizens.len()];
        let lawyer = lawyers[(i / citizens.len() + i) % lawyers.len()];
        let created = at(ids.secs);
        docs.put(&doc! {
            "_id": ids.next(1), "originalName": format!("agreement-{i}.pdf"), "ipfsHash": format!("Qm{:044}", i),
            "mimeType": "application/pdf", "size": 20_000 + i as i64, "url": format!("https://gateway.pinata.cloud/ipfs/Qm{:044}", i),
            "documentType": "direct", "relatedId": connection_ids[i], "relatedModel": "DirectConnection",
            "uploadedBy": citizen, "uploadedByRole": "citizen",
            "accessibleTo": [{"userId": citizen, "role": "citizen", "_id": ids.next(0)}, {"userId": lawyer, "role": "lawyer", "_id": ids.next(0)}],
            "description": "", "tags": ["lease"], "documentCategory": "agreement", "isVerified": false,
            "pinataMetadata": {"name": format!("agreement-{i}.pdf"), "keyvalues": {"uploadedBy": citizen.to_hex(), "uploadedByRole": "citizen", "messageType": "file"}},
            "status": "active", "uploadedAt": created, "lastAccessedAt": created, "createdAt": created, "updatedAt": created, "__v": 0,
        })?;
        w.documents += 1;
        consults.put(&doc! {
            "_id": ids.next(1), "title": "First consultation", "citizen": citizen, "lawyer": lawyer,
            "consultationType": "video", "status": "requested", "scheduledDateTime": at(ids.secs + 86_400),
            "duration": 30, "fee": {"currency": "INR", "paymentStatus": "pending"}, "agenda": [], "followUp": {"required": false},
            "reminders": [], "createdAt": created, "updatedAt": created, "__v": 0,
        })?;
        w.consultations += 1;
    }
    w.bytes += docs.close()? + consults.close()?;
    Ok(w)
}
