//! Integration tests: documents (docs/api.md 3.8) and chat files (3.7 #7, #8).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nyaya::db::Sql;
use nyaya::ids::Id;
use nyaya::service::files::{self, ProcessOutcome};
use nyaya::store::users::{self, Role, User};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::realtime::{Auth, Sock};

// ---- Set-up helpers (also used by the consultation tests). ----

/// An account written straight to the store, with an access token. Lawyers are verified
/// unless `verified` is false.
pub async fn account(app: &TestApp, role: Role, name: &str, verified: bool) -> (User, String) {
    let mut u = User::new(name.into(), unique_email(role.as_str()), "no-login-in-these-tests".into(), role);
    if role == Role::Lawyer {
        u.is_verified = verified;
        u.lawyer_details = Some(json!({
            "verificationStatus": if verified { "verified" } else { "pending" },
            "specialization": ["Civil Law"],
        }));
    }
    users::insert(&app.state().db, &u).await.unwrap();
    let token = app.state().tokens.issue(&u).access;
    (u, token)
}

pub async fn citizen(app: &TestApp, name: &str) -> (User, String) {
    account(app, Role::Citizen, name, true).await
}

pub async fn lawyer(app: &TestApp, name: &str) -> (User, String) {
    account(app, Role::Lawyer, name, true).await
}

async fn exec(app: &TestApp, sql: Sql) {
    app.state().db.exec(&sql).await.unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.state().db.count(&Sql::new(sql)).await.unwrap()
}

/// A case (`query` or `dispute`) of `citizen`, optionally assigned.
async fn case(app: &TestApp, case_type: &str, citizen: &User, lawyer: Option<&User>) -> Id {
    let id = Id::new();
    let now = nyaya::time::now_iso();
    exec(
        app,
        Sql::new(
            "INSERT INTO cases (id, case_type, title, description, category, status, citizen_id, assigned_lawyer_id, created_at, updated_at) \
             VALUES ($1, $2, 'Boundary wall', 'Neighbour built on my land', 'property', 'assigned', $3, $4, $5, $5)",
        )
        .arg(&id)
        .arg(case_type)
        .arg(&citizen.id)
        .arg(lawyer.map(|l| l.id.clone()))
        .arg(&now),
    )
    .await;
    id
}

async fn connection(app: &TestApp, citizen: &User, lawyer: &User) -> Id {
    let id = Id::new();
    let now = nyaya::time::now_iso();
    exec(
        app,
        Sql::new(
            "INSERT INTO direct_connections (id, citizen_id, lawyer_id, status, request_message, requested_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'accepted', 'Please help', $4, $4, $4)",
        )
        .arg(&id)
        .arg(&citizen.id)
        .arg(&lawyer.id)
        .arg(&now),
    )
    .await;
    id
}

/// A chat with its participants; `related` is the case id or the connection id.
async fn chat(app: &TestApp, chat_id: &str, chat_type: &str, related: Option<&Id>, members: &[(&User, &str)]) {
    let id = Id::new();
    let now = nyaya::time::now_iso();
    let (case_id, connection_id) =
        if chat_type == "direct" { (None, related.cloned()) } else { (related.cloned(), None) };
    exec(
        app,
        Sql::new(
            "INSERT INTO chats (id, chat_id, chat_type, status, related_case_type, related_case_id, direct_connection_id, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $7)",
        )
        .arg(&id)
        .arg(chat_id)
        .arg(chat_type)
        .arg((chat_type != "direct").then_some(chat_type))
        .arg(case_id)
        .arg(connection_id)
        .arg(&now),
    )
    .await;
    for (user, role) in members {
        exec(
            app,
            Sql::new("INSERT INTO chat_participants (chat_ref, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
                .arg(&id)
                .arg(&user.id)
                .arg(*role)
                .arg(&now),
        )
        .await;
    }
}

pub fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n").into_bytes()
}

/// A real `w`×`h` PNG.
fn png_image(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 120]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// CRC-32 of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
        }
    }
    !crc
}

/// A well-formed PNG header that declares a `w`×`h` RGB image, with a few bytes of data: a
/// small file whose decoding would take w·h·3 bytes.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let body = [kind, data].concat();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let ihdr = [&w.to_be_bytes()[..], &h.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    chunk(b"IHDR", &ihdr);
    // zlib: one stored block of 8 zero bytes and its Adler-32.
    chunk(b"IDAT", &[0x78, 0x01, 0x01, 8, 0, 0xF7, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0x01]);
    chunk(b"IEND", &[]);
    out
}

fn png() -> Vec<u8> {
    png_image(2, 2)
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One file part of a multipart form.
pub struct FilePart<'a> {
    field: &'a str,
    name: &'a str,
    mime: &'a str,
    bytes: Vec<u8>,
}

pub fn file<'a>(field: &'a str, name: &'a str, mime: &'a str, bytes: Vec<u8>) -> FilePart<'a> {
    FilePart { field, name, mime, bytes }
}

pub async fn multipart(
    app: &TestApp,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    files: Vec<FilePart<'_>>,
) -> Reply {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for f in files {
        form = form
            .part(f.field.to_string(), Part::bytes(f.bytes).file_name(f.name.to_string()).mime_str(f.mime).unwrap());
    }
    let res = app.client.post(app.url(path)).bearer_auth(token).multipart(form).send().await.expect("upload request");
    TestApp::reply(res).await
}

/// Raw GET for file routes: status, headers and bytes.
pub async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

/// Waits (at most 10 s) until the background check of an upload is over and returns the
/// document's details, read as `token`, who must see it while processing: its uploader.
pub async fn processed(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get(&format!("/api/documents/details/{id}"), Some(token)).await;
        r.assert_status(200);
        let doc = &r.data()["document"];
        if doc["status"] != "processing" {
            return doc.clone();
        }
        assert!(Instant::now() < deadline, "document {id} still processing after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `_id` of the document of a single upload.
fn uploaded_id(r: &Reply) -> String {
    r.assert_status(201);
    r.data()["document"]["_id"].as_str().expect("document id").to_string()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const DOCUMENT_KEYS: &[&str] = &[
    "_id",
    "originalName",
    "ipfsHash",
    "mimeType",
    "size",
    "url",
    "documentType",
    "relatedId",
    "relatedModel",
    "uploadedBy",
    "uploadedByRole",
    "accessibleTo",
    "description",
    "tags",
    "documentCategory",
    "isVerified",
    "pinataMetadata",
    "status",
    "uploadedAt",
    "lastAccessedAt",
    "createdAt",
    "updatedAt",
    "__v",
    "id",
    "sizeFormatted",
    "timeAgo",
];

/// Files left in the upload area's temporary folder (must be none after any request).
fn temp_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.state().config.upload_dir.join("tmp")).map(|d| d.count()).unwrap_or(0)
}

async fn document_rows(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM documents").await
}

// ---- Tests. ----

#[tokio::test]
async fn a_case_party_uploads_and_the_other_party_reads_and_downloads() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let bytes = pdf("sale deed");

    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[
            ("documentType", "query"),
            ("relatedId", query.as_str()),
            ("description", "Registered sale deed"),
            ("documentCategory", "contract"),
            ("tags", "Deed, Land ,"),
        ],
        vec![file("document", "sale deed.pdf", "application/pdf", bytes.clone())],
    )
    .await;
    r.assert_status(201);
    assert_eq!(r.message(), "Document uploaded successfully");
    let doc = &r.data()["document"];
    assert_eq!(keys(doc), set(DOCUMENT_KEYS));
    let id = doc["_id"].as_str().unwrap().to_string();
    assert_eq!(doc["id"], id);
    assert_eq!(doc["originalName"], "sale deed.pdf");
    assert_eq!(doc["ipfsHash"], sha256(&bytes));
    assert_eq!(doc["mimeType"], "application/pdf");
    assert_eq!(doc["size"], bytes.len());
    assert_eq!(doc["url"], format!("/api/documents/{id}/download"));
    assert_eq!(r.data()["ipfsUrl"], doc["url"]);
    assert_eq!(doc["documentType"], "query");
    assert_eq!(doc["relatedId"], query.as_str());
    assert_eq!(doc["relatedModel"], "Query");
    assert_eq!(doc["uploadedBy"], json!({"_id": asha.id, "name": "Asha", "email": asha.email, "role": "citizen"}));
    assert_eq!(doc["uploadedByRole"], "citizen");
    assert_eq!(
        doc["accessibleTo"],
        json!([{"userId": asha.id, "role": "citizen"}, {"userId": ravi.id, "role": "lawyer"}])
    );
    assert_eq!(doc["description"], "Registered sale deed");
    assert_eq!(doc["tags"], json!(["deed", "land"]));
    assert_eq!(doc["documentCategory"], "contract");
    assert_eq!(doc["isVerified"], false);
    assert_eq!(doc["status"], "processing", "answered once stored, before the content is checked");
    assert_eq!(doc["sizeFormatted"], format!("{} Bytes", bytes.len()));
    assert_eq!(doc["timeAgo"], "1 day ago");
    // Stored once, at its content address; nothing left in the temporary area.
    let stored = app.state().config.upload_dir.join("sha256").join(&sha256(&bytes)[..2]).join(sha256(&bytes));
    assert_eq!(std::fs::read(stored).unwrap(), bytes);
    assert_eq!(temp_files(&app), 0);
    let checked = processed(&app, &asha_t, &id).await;
    assert_eq!(checked["status"], "active");
    assert_eq!(keys(&checked), set(DOCUMENT_KEYS), "no thumbnail for a PDF, no rejection reason");

    // The assigned lawyer reads the details and downloads the same bytes.
    let d = app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await;
    d.assert_status(200);
    assert_eq!(d.data()["document"]["_id"], id);
    assert_eq!(keys(&d.data()["document"]), set(DOCUMENT_KEYS));
    let (status, headers, body) = fetch(&app, &format!("/api/documents/{id}/download"), Some(&ravi_t)).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    assert!(headers["cache-control"].to_str().unwrap().contains("private"));
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"sale deed.pdf\"; filename*=UTF-8''sale%20deed.pdf"
    );
    // A link opened by the browser carries the token in the query instead of a header.
    let (status, _, body) = fetch(&app, &format!("/api/documents/{id}/download?token={ravi_t}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);

    // The list of the case, for both parties.
    for token in [&asha_t, &ravi_t] {
        let l = app.get(&format!("/api/documents/query/{query}"), Some(token)).await;
        l.assert_status(200);
        assert_eq!(keys(l.data()), set(&["documents", "count"]));
        assert_eq!(l.data()["count"], 1);
        assert_eq!(l.data()["documents"][0]["_id"], id);
    }
}

#[tokio::test]
async fn a_document_of_another_case_is_invisible_to_users_outside_its_access_list() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let (_, mallory_t) = citizen(&app, "Mallory").await;
    let (_, other_lawyer_t) = lawyer(&app, "Other Lawyer").await;
    let dispute = case(&app, "dispute", &asha, Some(&ravi)).await;
    let bytes = pdf("evidence");
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "dispute"), ("relatedId", dispute.as_str()), ("tags", "evidence")],
        vec![file("document", "photo-evidence.pdf", "application/pdf", bytes.clone())],
    )
    .await;
    let id = uploaded_id(&r);
    assert_eq!(processed(&app, &asha_t, &id).await["status"], "active");
    let hash = sha256(&bytes);

    for outsider in [&mallory_t, &other_lawyer_t] {
        let d = app.get(&format!("/api/documents/details/{id}"), Some(outsider)).await;
        d.assert_status(403);
        assert_eq!(d.body["error"], "Access denied");
        assert_eq!(d.body["message"], "Access denied");
        let l = app.get(&format!("/api/documents/dispute/{dispute}"), Some(outsider)).await;
        l.assert_status(200);
        assert_eq!(l.data()["count"], 0);
        let mine = app.get("/api/documents/repository/my-documents", Some(outsider)).await;
        mine.assert_status(200);
        assert_eq!(mine.data()["documents"]["dispute"], json!({}));
        assert_eq!(mine.data()["pagination"]["totalDocuments"], 0);
        let s = app.get("/api/documents/search?q=evidence", Some(outsider)).await;
        s.assert_status(200);
        assert_eq!(s.data()["documents"], json!([]));
        let st = app.get("/api/documents/stats/overview", Some(outsider)).await;
        assert_eq!(st.data()["overall"]["totalDocuments"], 0);
        let (status, _, body) = fetch(&app, &format!("/api/documents/{id}/download"), Some(outsider)).await;
        assert_eq!(status, 403);
        assert!(!body.starts_with(b"%PDF"));
        // The file proxy does not tell an outsider that a file with this content exists.
        let (status, _, body) = fetch(&app, &format!("/api/chats/file/{hash}?token={outsider}"), None).await;
        assert_eq!(status, 404);
        assert!(!body.starts_with(b"%PDF"));
        // Nor can an outsider attach a document to the case.
        let up = multipart(
            &app,
            "/api/documents/upload",
            outsider,
            &[("documentType", "dispute"), ("relatedId", dispute.as_str())],
            vec![file("document", "x.pdf", "application/pdf", pdf("intruder"))],
        )
        .await;
        up.assert_status(403);
        assert_eq!(up.body["error"], "Access denied");
    }
    assert_eq!(document_rows(&app).await, 1);
    assert_eq!(temp_files(&app), 0);
}

#[tokio::test]
async fn a_file_that_claims_to_be_a_pdf_but_is_an_executable_is_refused() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let query = case(&app, "query", &asha, None).await;
    let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    let cases = [
        ("payload.pdf", "application/pdf", elf.clone()),
        ("setup.pdf", "application/pdf", exe.clone()),
        ("setup.exe", "application/x-msdownload", exe),
        ("notes.txt", "text/plain", elf),
        ("scan.png", "image/png", pdf("not an image")),
        ("bad.txt", "text/plain", vec![b'a', 0xff, 0xfe, b'b']),
    ];
    for (name, mime, bytes) in cases {
        let r = multipart(
            &app,
            "/api/documents/upload",
            &asha_t,
            &[("documentType", "query"), ("relatedId", query.as_str())],
            vec![file("document", name, mime, bytes)],
        )
        .await;
        r.assert_status(415);
        assert_eq!(r.body["success"], false, "{name}");
        assert_eq!(r.body["error"], "File type not allowed", "{name}");
        assert_eq!(r.body["message"], "File type not allowed", "{name}");
    }
    // The same for chat files.
    chat(&app, &format!("query_{query}"), "query", Some(&query), &[(&asha, "citizen")]).await;
    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &asha_t,
        &[("chatId", &format!("query_{query}"))],
        vec![file("file", "invoice.pdf", "application/pdf", b"\x7fELF\x02\x01\x01".to_vec())],
    )
    .await;
    r.assert_status(415);
    assert_eq!(document_rows(&app).await, 0);
    assert_eq!(temp_files(&app), 0);
    // Genuine text and images pass.
    let ok = multipart(
        &app,
        "/api/documents/upload-multiple",
        &asha_t,
        &[("documentType", "query"), ("relatedId", query.as_str())],
        vec![
            file("documents", "notes.txt", "text/plain; charset=utf-8", "Hearing on 5 May, राम".as_bytes().to_vec()),
            file("documents", "scan.png", "image/png", png()),
        ],
    )
    .await;
    ok.assert_status(201);
    assert_eq!(ok.message(), "2 documents uploaded successfully");
    assert_eq!(ok.data()["documents"][0]["mimeType"], "text/plain");
    for doc in ok.data()["documents"].as_array().unwrap() {
        assert_eq!(doc["status"], "processing");
        let checked = processed(&app, &asha_t, doc["_id"].as_str().unwrap()).await;
        assert_eq!(checked["status"], "active", "{checked}");
    }
}

#[tokio::test]
async fn oversized_files_are_refused_with_413_and_leave_nothing_behind() {
    let app = spawn_with(&[("MAX_FILE_SIZE", "1024"), ("MAX_FILES_PER_UPLOAD", "2")]).await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let query = case(&app, "query", &asha, None).await;
    let mut big = pdf("big");
    big.resize(4096, b' ');
    let fields = [("documentType", "query"), ("relatedId", query.as_str())];
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &fields,
        vec![file("document", "big.pdf", "application/pdf", big.clone())],
    )
    .await;
    r.assert_status(413);
    assert_eq!(r.body["success"], false);
    assert!(r.body["error"].as_str().unwrap().starts_with("File size exceeds limit of"), "{}", r.body);
    assert_eq!(r.body["message"], r.body["error"]);
    // Multi-upload names the file; a file at the limit is fine.
    let mut exact = pdf("exact");
    exact.resize(1024, b' ');
    let r = multipart(
        &app,
        "/api/documents/upload-multiple",
        &asha_t,
        &fields,
        vec![
            file("documents", "ok.pdf", "application/pdf", exact.clone()),
            file("documents", "big.pdf", "application/pdf", big),
        ],
    )
    .await;
    r.assert_status(413);
    assert!(r.body["error"].as_str().unwrap().starts_with("File big.pdf: File size exceeds limit"), "{}", r.body);
    // More files than allowed.
    let three = (0..3).map(|i| file("documents", "f.pdf", "application/pdf", pdf(&format!("n{i}")))).collect();
    let r = multipart(&app, "/api/documents/upload-multiple", &asha_t, &fields, three).await;
    r.assert_status(400);
    assert_eq!(document_rows(&app).await, 0);
    assert_eq!(temp_files(&app), 0);
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &fields,
        vec![file("document", "ok.pdf", "application/pdf", exact)],
    )
    .await;
    r.assert_status(201);
}

/// Every file under the upload area (stored, thumbnails and temporary).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .flat_map(|p| if p.is_dir() { files_under(&p) } else { vec![p] })
        .collect()
}

/// Starts a multipart upload over a raw connection that announces `total` bytes but sends
/// only the text fields and the first 64 KiB of one file, then waits (at most 10 s) for the
/// server's answer without ever sending the rest: `None` when the server waits for the body.
async fn stalled_upload(
    app: &TestApp,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    file_field: &str,
) -> Option<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let boundary = "nyaya-stalled-upload";
    let mut head = String::new();
    for (k, v) in fields {
        head.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    ));
    let mut body = head.into_bytes();
    body.extend_from_slice(b"%PDF-1.4\n");
    body.resize(body.len() + 64 * 1024, b'x');
    let total = 8 * 1024 * 1024;
    let addr = app.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    conn.flush().await.unwrap();
    let read = async {
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = conn.read(&mut buf).await.unwrap_or(0);
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                });
                if n == 0 || length.is_some_and(|len| body.len() >= len) {
                    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                    return (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())));
                }
            }
            assert!(n > 0, "connection closed without an answer: {text:?}");
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.ok()
}

#[tokio::test]
async fn an_upload_to_a_case_of_others_is_refused_before_any_byte_is_stored() {
    let app = spawn().await;
    let (asha, _) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let (_, mallory_t) = citizen(&app, "Mallory").await;
    let dispute = case(&app, "dispute", &asha, Some(&ravi)).await;
    let conn = connection(&app, &asha, &ravi).await;
    let chat_id = format!("dispute_{dispute}");
    chat(&app, &chat_id, "dispute", Some(&dispute), &[(&asha, "citizen"), (&ravi, "lawyer")]).await;
    let missing = Id::new();

    for (path, fields, file_field, status, error) in [
        (
            "/api/documents/upload",
            vec![("documentType", "dispute"), ("relatedId", dispute.as_str())],
            "document",
            403,
            "Access denied",
        ),
        (
            "/api/documents/upload-multiple",
            vec![("documentType", "direct"), ("relatedId", conn.as_str())],
            "documents",
            403,
            "Access denied",
        ),
        (
            "/api/documents/upload",
            vec![("documentType", "query"), ("relatedId", missing.as_str())],
            "document",
            404,
            "Query not found",
        ),
        ("/api/chats/upload-file", vec![("chatId", chat_id.as_str())], "file", 403, "Access denied"),
    ] {
        // The answer comes while the file is still arriving, and nothing of it was written.
        let answer = stalled_upload(&app, path, &mallory_t, &fields, file_field).await;
        let (got, body) =
            answer.unwrap_or_else(|| panic!("POST {path} {fields:?}: no answer before the whole body arrived"));
        assert_eq!((got, body["error"].as_str()), (status, Some(error)), "POST {path} {fields:?}: {body}");
        assert_eq!(body["success"], false);
        let written = files_under(&app.state().config.upload_dir);
        assert!(written.is_empty(), "POST {path} {fields:?} wrote {written:?}");
    }
    assert_eq!(document_rows(&app).await, 0);
}

/// A chat request the lawyer has not accepted takes no files (as it takes no messages), and
/// the refusal comes before the file is stored, as for any other refused upload.
#[tokio::test]
async fn an_upload_to_a_pending_chat_is_refused_before_any_byte_is_stored() {
    let app = spawn().await;
    let (_asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let opened = app.post(&format!("/api/chats/direct/{}", ravi.id), Some(&asha_t), json!({})).await;
    opened.assert_status(200);
    let chat_id = opened.data()["chat"]["chatId"].as_str().unwrap().to_string();
    assert_eq!(opened.data()["chat"]["status"], "pending");

    let answer = stalled_upload(&app, "/api/chats/upload-file", &asha_t, &[("chatId", chat_id.as_str())], "file").await;
    let (status, body) = answer.expect("no answer before the whole body arrived");
    assert_eq!((status, body["error"].as_str()), (409, Some("This chat request has not been accepted yet")), "{body}");
    let written = files_under(&app.state().config.upload_dir);
    assert!(written.is_empty(), "wrote {written:?}");
    assert_eq!(document_rows(&app).await, 0);
}

#[tokio::test]
async fn upload_inputs_are_validated() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let doc = || vec![file("document", "a.pdf", "application/pdf", pdf("a"))];

    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("relatedId", "nope"), ("documentCategory", "gossip")],
        doc(),
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "Validation failed");
    assert_eq!(r.body["message"], "Validation failed");
    let paths: Vec<&str> = r.body["details"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["documentType", "relatedId", "documentCategory"]);
    assert_eq!(r.body["details"][0]["msg"], "Document type must be direct, query, or dispute");

    let missing = Id::new();
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "query"), ("relatedId", missing.as_str())],
        vec![],
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "No file uploaded");
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "query"), ("relatedId", missing.as_str())],
        doc(),
    )
    .await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "Query not found");
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "direct"), ("relatedId", missing.as_str())],
        doc(),
    )
    .await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "Direct connection not found");
    // A JSON body is not a form: the fields are missing.
    let r = app.post("/api/documents/upload", Some(&asha_t), json!({"documentType": "query"})).await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "Validation failed");
    let r = app.get("/api/documents/upload", None).await;
    assert_ne!(r.status.as_u16(), 200);

    // Unauthenticated uploads are refused before anything is read.
    let res = app
        .client
        .post(app.url("/api/documents/upload"))
        .multipart(Form::new().text("documentType", "query"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // The same content twice on one connection is refused; once is fine.
    let conn = connection(&app, &asha, &ravi).await;
    let fields = [("documentType", "direct"), ("relatedId", conn.as_str())];
    multipart(&app, "/api/documents/upload", &ravi_t, &fields, doc()).await.assert_status(201);
    let again = multipart(&app, "/api/documents/upload", &asha_t, &fields, doc()).await;
    again.assert_status(400);
    assert_eq!(again.body["error"], "a.pdf has already been uploaded here");
    let twice = multipart(
        &app,
        "/api/documents/upload-multiple",
        &asha_t,
        &fields,
        vec![
            file("documents", "b.pdf", "application/pdf", pdf("b")),
            file("documents", "b2.pdf", "application/pdf", pdf("b")),
        ],
    )
    .await;
    twice.assert_status(400);
    assert_eq!(document_rows(&app).await, 1);

    // Entity lists: bad type or id is a 400; the debug count does not exist.
    app.get(&format!("/api/documents/case/{conn}"), Some(&asha_t)).await.assert_status(400);
    app.get("/api/documents/direct/12345", Some(&asha_t)).await.assert_status(400);
    let debug = app.get("/api/documents/debug/count", Some(&asha_t)).await;
    assert_ne!(debug.status.as_u16(), 200);
    app.get("/api/documents/details/xyz", Some(&asha_t)).await.assert_status(400);
    app.get(&format!("/api/documents/details/{}", Id::new()), Some(&asha_t)).await.assert_status(404);
}

#[tokio::test]
async fn repository_search_stats_and_delete_follow_the_access_rule() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let conn = connection(&app, &asha, &ravi).await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let a = pdf("lease");
    let b = png();
    let c = b"Meeting notes: 50% advance paid".to_vec();
    let up = multipart(
        &app,
        "/api/documents/upload-multiple",
        &ravi_t,
        &[
            ("documentType", "direct"),
            ("relatedId", conn.as_str()),
            ("documentCategory", "agreement"),
            ("tags", "Lease"),
        ],
        vec![
            file("documents", "lease.pdf", "application/pdf", a.clone()),
            file("documents", "site.png", "image/png", b.clone()),
        ],
    )
    .await;
    up.assert_status(201);
    assert_eq!(
        up.data()["documents"][0]["accessibleTo"],
        json!([{"userId": asha.id, "role": "citizen"}, {"userId": ravi.id, "role": "lawyer"}])
    );
    for doc in up.data()["documents"].as_array().unwrap() {
        processed(&app, &ravi_t, doc["_id"].as_str().unwrap()).await;
    }
    let up = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "query"), ("relatedId", query.as_str()), ("description", "advance receipt")],
        vec![file("document", "notes_1.txt", "text/plain", c.clone())],
    )
    .await;
    let notes_id = uploaded_id(&up);
    processed(&app, &asha_t, &notes_id).await;

    // Repository: grouped by type and entity, newest first.
    let mine = app.get("/api/documents/repository/my-documents", Some(&asha_t)).await;
    mine.assert_status(200);
    let groups = &mine.data()["documents"];
    assert_eq!(keys(groups), set(&["direct", "query", "dispute"]));
    let direct = &groups["direct"][conn.as_str()];
    assert_eq!(keys(direct), set(&["relatedId", "documents", "totalSize", "lastUpdated"]));
    assert_eq!(direct["documents"].as_array().unwrap().len(), 2);
    assert_eq!(direct["totalSize"], a.len() + b.len());
    assert_eq!(groups["query"][query.as_str()]["documents"][0]["_id"], notes_id);
    assert_eq!(mine.data()["pagination"], json!({"current": 1, "total": 1, "count": 3, "totalDocuments": 3}));
    let page2 = app.get("/api/documents/repository/my-documents?limit=2&page=2&documentType=all", Some(&asha_t)).await;
    assert_eq!(page2.data()["pagination"], json!({"current": 2, "total": 2, "count": 1, "totalDocuments": 3}));
    let only_query = app.get("/api/documents/repository/my-documents?documentType=query", Some(&ravi_t)).await;
    assert_eq!(only_query.data()["pagination"]["totalDocuments"], 1);

    // Search: literal text (no wildcards), tags, filters.
    let s = app.get("/api/documents/search?q=50%25", Some(&ravi_t)).await;
    s.assert_status(200);
    assert_eq!(s.data()["documents"], json!([]), "`%` must not act as a wildcard");
    let s = app.get("/api/documents/search?q=ADVANCE", Some(&ravi_t)).await;
    assert_eq!(s.data()["documents"][0]["_id"], notes_id);
    assert_eq!(s.data()["searchQuery"], "ADVANCE");
    assert_eq!(s.data()["pagination"], json!({"current": 1, "total": 1, "count": 1, "totalDocuments": 1}));
    let s = app.get("/api/documents/search?q=lease_pdf", Some(&ravi_t)).await;
    assert_eq!(s.data()["documents"], json!([]), "`_` must not act as a wildcard");
    let s = app.get("/api/documents/search?q=notes_1", Some(&ravi_t)).await;
    assert_eq!(s.data()["documents"][0]["_id"], notes_id);
    let s =
        app.get("/api/documents/search?q=lease&documentType=direct&documentCategory=agreement", Some(&asha_t)).await;
    assert_eq!(s.data()["pagination"]["totalDocuments"], 2, "name or tag match");
    assert_eq!(s.data()["filters"], json!({"documentType": "direct", "documentCategory": "agreement"}));
    let s = app.get("/api/documents/search?dateFrom=2000-01-01&dateTo=2000-12-31", Some(&asha_t)).await;
    assert_eq!(s.data()["pagination"]["totalDocuments"], 0);
    app.get("/api/documents/search?dateFrom=someday", Some(&asha_t)).await.assert_status(400);

    // Stats are real numbers.
    let st = app.get("/api/documents/stats/overview", Some(&asha_t)).await;
    st.assert_status(200);
    let total = (a.len() + b.len() + c.len()) as f64;
    assert_eq!(st.data()["overall"]["totalDocuments"], 3);
    assert_eq!(st.data()["overall"]["totalSize"], a.len() + b.len() + c.len());
    assert_eq!(st.data()["overall"]["avgSize"].as_f64().unwrap(), total / 3.0);
    let by_type = st.data()["byType"].as_array().unwrap();
    let direct = by_type.iter().find(|t| t["_id"] == "direct").unwrap();
    assert_eq!(direct["count"], 2);
    assert_eq!(direct["categories"], json!(["agreement"]));
    assert_eq!(st.data()["recent"].as_array().unwrap().len(), 3);

    // Delete: only the uploader, soft; the document then disappears everywhere.
    let del = app.delete(&format!("/api/documents/{notes_id}"), Some(&ravi_t)).await;
    del.assert_status(403);
    assert_eq!(del.body["error"], "Only the uploader can delete this document");
    let del = app.delete(&format!("/api/documents/{notes_id}"), Some(&asha_t)).await;
    del.assert_status(200);
    assert_eq!(del.body, json!({"success": true, "message": "Document deleted successfully"}));
    app.get(&format!("/api/documents/details/{notes_id}"), Some(&asha_t)).await.assert_status(404);
    let (status, _, _) = fetch(&app, &format!("/api/documents/{notes_id}/download"), Some(&ravi_t)).await;
    assert_eq!(status, 404);
    let l = app.get(&format!("/api/documents/query/{query}"), Some(&asha_t)).await;
    assert_eq!(l.data()["count"], 0);
    let st = app.get("/api/documents/stats/overview", Some(&ravi_t)).await;
    assert_eq!(st.data()["overall"]["totalDocuments"], 2);
    app.delete(&format!("/api/documents/{notes_id}"), Some(&asha_t)).await.assert_status(404);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM documents WHERE status = 'deleted'").await, 1);
    // Uploading the same content again brings the record back.
    let again = multipart(
        &app,
        "/api/documents/upload",
        &ravi_t,
        &[("documentType", "query"), ("relatedId", query.as_str())],
        vec![file("document", "notes.txt", "text/plain", c)],
    )
    .await;
    again.assert_status(201);
    assert_eq!(again.data()["document"]["_id"], notes_id);
    assert_eq!(again.data()["document"]["uploadedByRole"], "lawyer");
    assert_eq!(processed(&app, &ravi_t, &notes_id).await["status"], "active");
    assert_eq!(app.get(&format!("/api/documents/query/{query}"), Some(&asha_t)).await.data()["count"], 1);
}

/// Whether a file with some content exists is itself private: a caller who may not read it
/// gets exactly the answer for content nobody uploaded.
#[tokio::test]
async fn the_file_proxy_answers_an_outsider_as_if_the_content_did_not_exist() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let (_, mallory_t) = citizen(&app, "Mallory").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let bytes = pdf("settlement terms");
    let r = multipart(
        &app,
        "/api/documents/upload",
        &asha_t,
        &[("documentType", "query"), ("relatedId", query.as_str())],
        vec![file("document", "terms.pdf", "application/pdf", bytes.clone())],
    )
    .await;
    assert_eq!(processed(&app, &asha_t, &uploaded_id(&r)).await["status"], "active");

    let existing = app.get(&format!("/api/chats/file/{}?token={mallory_t}", sha256(&bytes)), None).await;
    let unknown = app.get(&format!("/api/chats/file/{}?token={mallory_t}", sha256(b"never uploaded")), None).await;
    unknown.assert_status(404);
    assert_eq!((existing.status, &existing.body), (unknown.status, &unknown.body));
    assert_eq!(existing.body, json!({"success": false, "message": "File not found", "error": "File not found"}));
    // The header form answers the same; the party still gets the file.
    let (status, _, body) = fetch(&app, &format!("/api/chats/file/{}", sha256(&bytes)), Some(&mallory_t)).await;
    assert_eq!(status, 404);
    assert_ne!(body, bytes);
    let (status, _, body) = fetch(&app, &format!("/api/chats/file/{}", sha256(&bytes)), Some(&asha_t)).await;
    assert_eq!((status, body), (200, bytes));
}

#[tokio::test]
async fn chat_files_are_stored_as_documents_and_served_to_participants() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (_, mallory_t) = citizen(&app, "Mallory").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let chat_id = format!("query_{query}");
    chat(&app, &chat_id, "query", Some(&query), &[(&asha, "citizen"), (&ravi, "lawyer")]).await;
    let bytes = pdf("draft reply");

    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &ravi_t,
        &[("chatId", &chat_id)],
        vec![file("file", "reply.pdf", "application/pdf", bytes.clone())],
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.message(), "File uploaded successfully");
    let data = r.data();
    assert_eq!(keys(data), set(&["ipfsHash", "originalName", "mimeType", "size", "url", "documentId"]));
    assert_eq!(data["ipfsHash"], sha256(&bytes));
    assert_eq!(data["originalName"], "reply.pdf");
    assert_eq!(data["size"], bytes.len());
    let doc_id = data["documentId"].as_str().unwrap().to_string();
    assert_eq!(data["url"], format!("/api/documents/{doc_id}/download"));
    assert_eq!(processed(&app, &ravi_t, &doc_id).await["status"], "active");

    let d = app.get(&format!("/api/documents/details/{doc_id}"), Some(&asha_t)).await;
    d.assert_status(200);
    let doc = &d.data()["document"];
    assert_eq!(doc["documentType"], "query");
    assert_eq!(doc["relatedId"], query.as_str());
    assert_eq!(doc["relatedModel"], "Query");
    assert_eq!(doc["description"], "Shared in chat");
    assert_eq!(doc["documentCategory"], "correspondence");
    assert_eq!(doc["tags"], json!(["chat", "shared"]));
    assert_eq!(
        doc["accessibleTo"],
        json!([{"userId": asha.id, "role": "citizen"}, {"userId": ravi.id, "role": "lawyer"}])
    );

    // The proxy: token in the query (window.open), the same bytes, private caching.
    let hash = sha256(&bytes);
    let (status, headers, body) = fetch(&app, &format!("/api/chats/file/{hash}?token={asha_t}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("private") && !cache.contains("public"), "{cache}");
    assert_eq!(headers["content-disposition"], "inline; filename=\"reply.pdf\"; filename*=UTF-8''reply.pdf");
    let (status, _, body) = fetch(&app, &format!("/api/chats/file/{hash}"), Some(&ravi_t)).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    let r = app.get(&format!("/api/chats/file/{hash}"), None).await;
    r.assert_status(401);
    let r = app.get(&format!("/api/chats/file/{hash}?token=garbage"), None).await;
    r.assert_status(401);
    let r = app.get(&format!("/api/chats/file/{hash}?token={mallory_t}"), None).await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "File not found");
    let r = app.get(&format!("/api/chats/file/not-a-hash?token={asha_t}"), None).await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "Invalid IPFS hash");
    let r = app.get(&format!("/api/chats/file/{}?token={asha_t}", sha256(b"never uploaded")), None).await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "File not found");

    // Outsiders and malformed requests.
    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &mallory_t,
        &[("chatId", &chat_id)],
        vec![file("file", "x.pdf", "application/pdf", pdf("x"))],
    )
    .await;
    r.assert_status(403);
    assert_eq!(r.body["error"], "Access denied");
    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &asha_t,
        &[],
        vec![file("file", "x.pdf", "application/pdf", pdf("x"))],
    )
    .await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "Chat ID is required");
    let r = multipart(&app, "/api/chats/upload-file", &asha_t, &[("chatId", &chat_id)], vec![]).await;
    r.assert_status(400);
    assert_eq!(r.body["error"], "No file uploaded");
    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &asha_t,
        &[("chatId", "query_nope")],
        vec![file("file", "x.pdf", "application/pdf", pdf("x"))],
    )
    .await;
    r.assert_status(404);
    assert_eq!(document_rows(&app).await, 1);

    // A direct chat files its documents under the connection; sharing the same file again
    // returns the same document.
    let conn = connection(&app, &asha, &ravi).await;
    let direct_id = if asha.id < ravi.id {
        format!("direct_{}_{}", asha.id, ravi.id)
    } else {
        format!("direct_{}_{}", ravi.id, asha.id)
    };
    chat(&app, &direct_id, "direct", Some(&conn), &[(&asha, "citizen"), (&ravi, "lawyer")]).await;
    let r = multipart(
        &app,
        "/api/chats/upload-file",
        &asha_t,
        &[("chatId", &direct_id), ("description", "ID card")],
        vec![file("file", "id.png", "image/png", png())],
    )
    .await;
    r.assert_status(200);
    let id = r.data()["documentId"].as_str().unwrap().to_string();
    assert!(processed(&app, &asha_t, &id).await["thumbnailUrl"].is_string(), "a shared image gets a thumbnail");
    let d = app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await;
    assert_eq!(d.data()["document"]["relatedId"], conn.as_str());
    assert_eq!(d.data()["document"]["relatedModel"], "DirectConnection");
    assert_eq!(d.data()["document"]["description"], "ID card");
    let again = multipart(
        &app,
        "/api/chats/upload-file",
        &ravi_t,
        &[("chatId", &direct_id)],
        vec![file("file", "id-copy.png", "image/png", png())],
    )
    .await;
    again.assert_status(200);
    assert_eq!(again.data()["documentId"], id);
}

// ---- Background processing (issue 6). ----

/// A document upload to `query` as `token`; returns the document id.
async fn upload_to(app: &TestApp, token: &str, query: &Id, name: &str, mime: &str, bytes: Vec<u8>) -> String {
    let fields = [("documentType", "query"), ("relatedId", query.as_str())];
    uploaded_id(
        &multipart(app, "/api/documents/upload", token, &fields, vec![file("document", name, mime, bytes)]).await,
    )
}

/// Puts a processed document back to `processing`, as if its check had not run yet.
async fn unprocess(app: &TestApp, id: &str) {
    exec(
        app,
        Sql::new(
            "UPDATE documents SET status = 'processing', status_reason = NULL, thumbnail_key = NULL WHERE id = $1",
        )
        .arg(id),
    )
    .await;
}

/// A record still `processing` whose job is gone (a restore whose job store was copied after
/// the job finished) is checked again when job workers start, and its file is served.
#[tokio::test]
async fn a_document_left_processing_without_its_job_is_checked_when_workers_start() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, _) = lawyer(&app, "Ravi").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let id = upload_to(&app, &asha_t, &query, "deed.pdf", "application/pdf", pdf("deed")).await;
    assert_eq!(processed(&app, &asha_t, &id).await["status"], "active");
    // Its job has run; the record goes back to `processing`, as a backup may have caught it.
    unprocess(&app, &id).await;
    let download = format!("/api/documents/{id}/download");
    assert_eq!(fetch(&app, &download, Some(&asha_t)).await.0, 404, "a processing document is not served");

    let workers = nyaya::startup::start_workers(app.state(), &[nyaya::jobs::Queue::Files]);
    let doc = processed(&app, &asha_t, &id).await;
    assert_eq!(doc["status"], "active");
    let (status, _, body) = fetch(&app, &download, Some(&asha_t)).await;
    assert_eq!(status, 200);
    assert_eq!(body, pdf("deed"));
    workers.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_uploaded_image_becomes_active_with_a_thumbnail() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let (_, mallory_t) = citizen(&app, "Mallory").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let bytes = png_image(600, 300);
    let id = upload_to(&app, &asha_t, &query, "site plan.png", "image/png", bytes.clone()).await;

    let doc = processed(&app, &asha_t, &id).await;
    assert_eq!(doc["status"], "active");
    let thumb_url = format!("/api/documents/{id}/thumbnail");
    assert_eq!(doc["thumbnailUrl"], thumb_url);
    assert!(doc.get("rejectionReason").is_none());
    // Both parties get the thumbnail (header or `?token=` for `<img src>`): a PNG at most
    // 256 px a side, same proportions.
    for (path, token) in [(thumb_url.clone(), Some(ravi_t.as_str())), (format!("{thumb_url}?token={asha_t}"), None)] {
        let (status, headers, body) = fetch(&app, &path, token).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "image/png");
        assert!(headers["cache-control"].to_str().unwrap().contains("private"));
        assert!(headers["content-disposition"].to_str().unwrap().starts_with("inline"));
        let thumb = image::load_from_memory_with_format(&body, image::ImageFormat::Png).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (256, 128));
    }
    // Kept beside the file; the file itself is unchanged.
    let hash = sha256(&bytes);
    let dir = app.state().config.upload_dir.join("sha256").join(&hash[..2]);
    assert!(dir.join(format!("{hash}.thumb.png")).exists());
    assert_eq!(std::fs::read(dir.join(&hash)).unwrap(), bytes);
    // The list shows the thumbnail too.
    let list = app.get(&format!("/api/documents/query/{query}"), Some(&ravi_t)).await;
    assert_eq!(list.data()["documents"][0]["thumbnailUrl"], thumb_url);

    // Same access rule as downloads; no thumbnail for other types or missing documents.
    let (status, _, _) = fetch(&app, &thumb_url, Some(&mallory_t)).await;
    assert_eq!(status, 403);
    let (status, _, _) = fetch(&app, &thumb_url, None).await;
    assert_eq!(status, 401);
    let pdf_id = upload_to(&app, &asha_t, &query, "deed.pdf", "application/pdf", pdf("deed")).await;
    assert!(processed(&app, &asha_t, &pdf_id).await.get("thumbnailUrl").is_none());
    let r = app.get(&format!("/api/documents/{pdf_id}/thumbnail"), Some(&asha_t)).await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "Thumbnail not found");
    app.get(&format!("/api/documents/{}/thumbnail", Id::new()), Some(&asha_t)).await.assert_status(404);
    app.get("/api/documents/nope/thumbnail", Some(&asha_t)).await.assert_status(400);
}

#[tokio::test]
async fn a_file_declared_as_png_that_is_not_an_image_is_rejected_with_a_reason() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    // The right first bytes (so the quick check in the request passes), then no image.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(b"<script>alert(1)</script> and more text that is no image");
    let id = upload_to(&app, &asha_t, &query, "photo.png", "image/png", fake.clone()).await;

    let doc = processed(&app, &asha_t, &id).await;
    assert_eq!(doc["status"], "rejected");
    assert_eq!(doc["rejectionReason"], "Image could not be decoded");
    assert!(doc.get("thumbnailUrl").is_none());
    // The uploader still sees it, with the reason, in lists; nobody gets the file.
    let mine = app.get(&format!("/api/documents/query/{query}"), Some(&asha_t)).await;
    assert_eq!(mine.data()["count"], 1);
    assert_eq!(mine.data()["documents"][0]["rejectionReason"], "Image could not be decoded");
    for token in [&asha_t, &ravi_t] {
        let (status, _, body) = fetch(&app, &format!("/api/documents/{id}/download"), Some(token)).await;
        assert_eq!(status, 404);
        assert_ne!(body, fake);
        let (status, _, _) = fetch(&app, &format!("/api/chats/file/{}", sha256(&fake)), Some(token)).await;
        assert_eq!(status, 404);
    }
    // The other party does not see it at all.
    let r = app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await;
    r.assert_status(404);
    assert_eq!(r.body["error"], "Document not found");
    assert_eq!(app.get(&format!("/api/documents/query/{query}"), Some(&ravi_t)).await.data()["count"], 0);
    // Uploading the same bytes again is allowed (and rejected again); the uploader can delete it.
    let again = upload_to(&app, &asha_t, &query, "photo.png", "image/png", fake).await;
    assert_eq!(again, id);
    assert_eq!(processed(&app, &asha_t, &id).await["status"], "rejected");
    app.delete(&format!("/api/documents/{id}"), Some(&ravi_t)).await.assert_status(404);
    app.delete(&format!("/api/documents/{id}"), Some(&asha_t)).await.assert_status(200);
    app.get(&format!("/api/documents/details/{id}"), Some(&asha_t)).await.assert_status(404);
}

#[tokio::test]
async fn the_uploader_hears_over_socket_io_when_processing_is_done() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let mut a =
        Sock::open(&app.base, Auth::Token(&asha_t), rust_socketio::TransportType::Websocket).await.expect("connected");
    let mut r =
        Sock::open(&app.base, Auth::Token(&ravi_t), rust_socketio::TransportType::Websocket).await.expect("connected");

    let id = upload_to(&app, &asha_t, &query, "map.png", "image/png", png_image(300, 300)).await;
    let event = a.next("document_processed").await;
    assert_eq!(
        event,
        json!({
            "documentId": id, "status": "active", "originalName": "map.png", "documentType": "query",
            "relatedId": query, "thumbnailUrl": format!("/api/documents/{id}/thumbnail"),
        })
    );
    // The event follows the write: the details already say so.
    let d = app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await;
    assert_eq!(d.data()["document"]["status"], "active");

    // A tiny file that declares a 15000×15000 image (675 MB decoded) is refused before
    // anything is decoded.
    let bad = upload_to(&app, &asha_t, &query, "bomb.png", "image/png", png_bomb(15_000, 15_000)).await;
    let event = a.next("document_processed").await;
    assert_eq!(event["documentId"], bad);
    assert_eq!(event["status"], "rejected");
    assert_eq!(event["reason"], "Image is too large to process");
    assert!(event.get("thumbnailUrl").is_none());
    assert!(!r.has("document_processed"), "only the uploader is told");
    a.close().await;
    r.close().await;
}

#[tokio::test]
async fn a_processing_document_is_seen_by_its_uploader_only_and_processing_is_idempotent() {
    let app = spawn().await;
    let (asha, asha_t) = citizen(&app, "Asha").await;
    let (ravi, ravi_t) = lawyer(&app, "Ravi").await;
    let query = case(&app, "query", &asha, Some(&ravi)).await;
    let bytes = pdf("affidavit");
    let id = upload_to(&app, &asha_t, &query, "affidavit.pdf", "application/pdf", bytes.clone()).await;
    processed(&app, &asha_t, &id).await;
    unprocess(&app, &id).await;

    // The uploader sees it everywhere, marked processing.
    let d = app.get(&format!("/api/documents/details/{id}"), Some(&asha_t)).await;
    assert_eq!(d.data()["document"]["status"], "processing");
    let mine = app.get("/api/documents/repository/my-documents", Some(&asha_t)).await;
    assert_eq!(mine.data()["documents"]["query"][query.as_str()]["documents"][0]["status"], "processing");
    let found = app.get("/api/documents/search?q=affidavit", Some(&asha_t)).await;
    assert_eq!(found.data()["pagination"]["totalDocuments"], 1);
    // Not the file, and nobody else: the other party gets 404s, as for a missing document.
    let (status, _, _) = fetch(&app, &format!("/api/documents/{id}/download"), Some(&asha_t)).await;
    assert_eq!(status, 404);
    app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await.assert_status(404);
    let (status, _, _) = fetch(&app, &format!("/api/documents/{id}/download"), Some(&ravi_t)).await;
    assert_eq!(status, 404);
    assert_eq!(app.get(&format!("/api/documents/query/{query}"), Some(&ravi_t)).await.data()["count"], 0);
    let theirs = app.get("/api/documents/repository/my-documents", Some(&ravi_t)).await;
    assert_eq!(theirs.data()["pagination"]["totalDocuments"], 0);
    let st = app.get("/api/documents/stats/overview", Some(&ravi_t)).await;
    assert_eq!(st.data()["overall"]["totalDocuments"], 0);
    let found = app.get("/api/documents/search?q=affidavit", Some(&ravi_t)).await;
    assert_eq!(found.data()["documents"], json!([]));
    // The same content cannot be uploaded again while it is processing.
    let fields = [("documentType", "query"), ("relatedId", query.as_str())];
    let again = multipart(
        &app,
        "/api/documents/upload",
        &ravi_t,
        &fields,
        vec![file("document", "copy.pdf", "application/pdf", bytes)],
    )
    .await;
    again.assert_status(400);
    assert_eq!(again.body["error"], "copy.pdf has already been uploaded here");

    // The job, run twice: the second run changes nothing and reports the same outcome.
    let doc_id: Id = id.parse().unwrap();
    let first = files::process_document(app.state(), &doc_id).await.unwrap();
    assert_eq!(first, ProcessOutcome::Active { thumbnail_key: None });
    let updated = app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await;
    updated.assert_status(200);
    let stamp = updated.data()["document"]["updatedAt"].clone();
    assert_eq!(files::process_document(app.state(), &doc_id).await.unwrap(), first);
    assert_eq!(
        app.get(&format!("/api/documents/details/{id}"), Some(&ravi_t)).await.data()["document"]["updatedAt"],
        stamp
    );
    assert_eq!(files::process_document(app.state(), &Id::new()).await.unwrap(), ProcessOutcome::Gone);

    // The job trusts the stored bytes, not the upload: a file changed on disk is rejected.
    let hash = sha256(&pdf("affidavit"));
    let stored = app.state().config.upload_dir.join("sha256").join(&hash[..2]).join(&hash);
    std::fs::write(&stored, pdf("forged affidavit")).unwrap();
    unprocess(&app, &id).await;
    let outcome = files::process_document(app.state(), &doc_id).await.unwrap();
    assert_eq!(outcome, ProcessOutcome::Rejected { reason: files::REASON_HASH.into() });
    let d = app.get(&format!("/api/documents/details/{id}"), Some(&asha_t)).await;
    assert_eq!(d.data()["document"]["status"], "rejected");
    assert_eq!(d.data()["document"]["rejectionReason"], files::REASON_HASH);
    // A deleted document is left alone.
    unprocess(&app, &id).await;
    app.delete(&format!("/api/documents/{id}"), Some(&asha_t)).await.assert_status(200);
    assert_eq!(files::process_document(app.state(), &doc_id).await.unwrap(), ProcessOutcome::Gone);
}
