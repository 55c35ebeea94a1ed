//! The API suite's helpers: replies, HTTP calls, accounts and the outbox, on top of the shared
//! harness (tests/support/harness.rs), which starts each test's server in process on random
//! ports with its own database (a fresh SQLite file, or a fresh PostgreSQL database when
//! `NYAYA_TEST_DATABASE_URL` is set).

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use crate::support::harness::*;

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        Self::reply(res).await
    }

    pub async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call(Method::PATCH, path, token, body).await
    }
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }
}

/// A valid password under the API's rules.
pub const PASSWORD: &str = "Secret123";

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}.{}@example.com", nyaya::ids::random_hex(4))
}

pub fn citizen_body(email: &str) -> Value {
    json!({"name": "Asha Citizen", "email": email, "password": PASSWORD, "role": "citizen"})
}

// ---- Accounts: users and tokens for any area's tests ----

/// The argon2 hash of [`PASSWORD`], computed once per test binary.
pub fn password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| nyaya::security::hash_password(PASSWORD).expect("hash"))
}

/// Inserts an account straight into the database (no HTTP, precomputed hash), with the
/// defaults registration gives its role. Lawyers are pending with full details; see
/// [`insert_verified_lawyer`]. The password is [`PASSWORD`].
pub async fn insert_user(app: &TestApp, role: nyaya::store::users::Role, name: &str) -> nyaya::store::users::User {
    use nyaya::store::users::{self, Role, User};
    let email = unique_email(&name.to_lowercase().replace(' ', "."));
    let mut user = User::new(name.to_string(), email, password_hash().to_string(), role);
    if role == Role::Lawyer {
        user.lawyer_details = Some(json!({
            "barRegistrationNumber": format!("BAR/{}", nyaya::ids::random_hex(3)),
            "specialization": ["General Practice"], "experience": 0, "education": "Law Graduate",
            "verificationStatus": "pending", "verificationDocuments": [], "practiceAreas": [], "courtAdmissions": [],
        }));
        user.profile_completion = json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": false});
    }
    users::insert(&app.state().db, &user).await.expect("insert user");
    user
}

/// A lawyer an admin has verified, with the given specializations and experience.
pub async fn insert_verified_lawyer(
    app: &TestApp,
    name: &str,
    specializations: &[&str],
    experience: i64,
) -> nyaya::store::users::User {
    let mut user = insert_user(app, nyaya::store::users::Role::Lawyer, name).await;
    user.is_verified = true;
    let details = user.lawyer_details.as_mut().expect("lawyer details");
    details["verificationStatus"] = json!("verified");
    details["specialization"] = json!(specializations);
    details["experience"] = json!(experience);
    nyaya::store::users::save(&app.state().db, &mut user).await.expect("save lawyer");
    user
}

/// An access token for `user`, minted without HTTP.
pub fn token_for(app: &TestApp, user: &nyaya::store::users::User) -> String {
    app.state().tokens.issue(user).access
}

impl TestApp {
    /// Sends a request from a client without a cookie jar: it neither sends nor keeps the
    /// session cookies that register, login and refresh set.
    pub async fn call_without_cookies(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::reply(req.send().await.expect("request")).await
    }
}

/// Registers through the API (without touching the app's cookie jar) and returns the new
/// `data.user` and its access token. `extra` keys are merged into the body (e.g.
/// `json!({"lawyerDetails": {...}})`); the password is [`PASSWORD`].
pub async fn register(app: &TestApp, role: &str, extra: Value) -> (Value, String) {
    let mut body =
        json!({"name": format!("Test {role}"), "email": unique_email(role), "password": PASSWORD, "role": role});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = app.call_without_cookies(Method::POST, "/api/auth/register", None, Some(body)).await;
    r.assert_status(201);
    let token = r.data()["tokens"]["accessToken"].as_str().expect("access token").to_string();
    (r.data()["user"].clone(), token)
}

// ---- Outbox: emails the app wrote (the default transport) ----

/// How long a test waits for an email: delivery may be asynchronous (a job queue).
pub const MAIL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAIL_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The text of every message in the outbox right now, oldest first, with quoted-printable
/// soft line breaks and `=3D` undone (enough for the ASCII texts tests look for).
pub fn outbox_now(app: &TestApp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.state().config.outbox_dir()) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        dir.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|raw| raw.replace("=\r\n", "").replace("=3D", "="))
        .collect()
}

/// Polls the outbox (every 50 ms, for up to [`MAIL_TIMEOUT`]) until `ready` holds for its
/// messages, and returns them then. Panics, naming `what`, when it never does.
pub async fn outbox_until(app: &TestApp, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + MAIL_TIMEOUT;
    loop {
        let mails = outbox_now(app);
        if ready(&mails) {
            return mails;
        }
        if tokio::time::Instant::now() >= deadline {
            let subjects: Vec<String> =
                mails.iter().map(|m| format!("{:?} to {:?}", header(m, "Subject"), header(m, "To"))).collect();
            panic!("no {what} in the outbox after {MAIL_TIMEOUT:?}; it has: {subjects:#?}");
        }
        tokio::time::sleep(MAIL_POLL).await;
    }
}

/// A header of a message (continuation lines unfolded), or "" when absent.
pub fn header(mail: &str, name: &str) -> String {
    let head = mail.split("\r\n\r\n").next().unwrap_or("").replace("\r\n ", " ").replace("\r\n\t", " ");
    let prefix = format!("{name}: ");
    head.split("\r\n").find_map(|l| l.strip_prefix(&prefix)).unwrap_or("").to_string()
}

/// Whether `mail` is addressed to `to` and its subject contains `subject`.
pub fn is_mail(mail: &str, to: &str, subject: &str) -> bool {
    header(mail, "To").contains(to) && header(mail, "Subject").contains(subject)
}

/// Every message to `to` whose subject contains `subject`, once there is at least one.
pub async fn mails_to(app: &TestApp, to: &str, subject: &str) -> Vec<String> {
    let what = format!("{subject:?} email to {to}");
    let mails = outbox_until(app, &what, |mails| mails.iter().any(|m| is_mail(m, to, subject))).await;
    mails.into_iter().filter(|m| is_mail(m, to, subject)).collect()
}

/// The message to `to` whose subject contains `subject` (waiting for it); panics if several.
pub async fn mail_to(app: &TestApp, to: &str, subject: &str) -> String {
    let mut mails = mails_to(app, to, subject).await;
    assert_eq!(mails.len(), 1, "one {subject:?} email to {to}");
    mails.remove(0)
}

/// The token of the first link in `mail` that contains `marker` (e.g. `/confirm-email/`).
pub fn link_token(mail: &str, marker: &str) -> String {
    let at = mail.find(marker).unwrap_or_else(|| panic!("no {marker} link in:\n{mail}")) + marker.len();
    mail[at..].chars().take_while(char::is_ascii_hexdigit).collect()
}
