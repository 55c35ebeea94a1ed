//! Accounts (docs/api.md 1.6, 1.7, 3.1): registration, login, tokens, cookies, password reset and
//! change, profile, CAPTCHA in production, and `nyaya create-admin`.

use nyaya::cache::{CacheStatus, Lookup, policy};
use nyaya::http::extract::Params;
use nyaya::security::sha256_hex;
use nyaya::store::users::{self, Role, User};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn cookie_named<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

fn error_paths(r: &Reply) -> Vec<(String, String)> {
    r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list: {}", r.body))
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), e["msg"].as_str().unwrap().to_string()))
        .collect()
}

async fn user_by_email(app: &TestApp, email: &str) -> Option<User> {
    users::find_by_email(&app.state().db, email).await.unwrap()
}

async fn user_count(app: &TestApp) -> i64 {
    app.state().db.count(&nyaya::db::Sql::new("SELECT COUNT(*) FROM users")).await.unwrap()
}

async fn post_plain(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Reply {
    app.call_without_cookies(Method::POST, path, token, Some(body)).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    post_plain(app, "/api/auth/login", None, json!({"email": email, "password": password})).await
}

/// A JWT signed with `secret` for `user`, expiring at `exp` (seconds since the epoch).
fn mint(secret: &str, user: &User, exp: i64) -> String {
    let claims = json!({"id": user.id, "email": user.email, "role": user.role.as_str(), "iat": exp - 3600, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

const WELCOME: &str = "Welcome to ChainVerdict - Verification Pending";
const RESET: &str = "Reset your ChainVerdict password";
const CONFIRM: &str = "Confirm your email address - ChainVerdict";

/// Whether a cached GET of `policy` is served from the cache (loads return `{}`).
async fn cache_status(
    app: &TestApp,
    policy: &nyaya::cache::Policy,
    caller: Option<&User>,
    subject: Option<&nyaya::ids::Id>,
) -> CacheStatus {
    let params = Params(Default::default());
    let cached = app
        .state()
        .cache
        .serve(policy, Lookup { caller, params: &params, subject }, || async { Ok(json!({})) })
        .await
        .unwrap();
    cached.status
}

#[tokio::test]
async fn register_citizen_returns_clean_user_tokens_and_session_cookies() {
    let app = spawn().await;
    let body = json!({
        "name": "  Asha Citizen  ", "email": "Asha.Citizen+law@GoogleMail.com", "password": PASSWORD,
        "phone": "9876543210",
        "address": {"street": "1 MG Road", "city": "Pune", "state": "MH", "pincode": "411001", "planet": "Earth"},
        "aadhaar": "123412341234", "captchaToken": "",
    });
    let r = post_plain(&app, "/api/auth/register", None, body).await;
    r.assert_status(201);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.message(), "User registered successfully");
    assert_eq!(keys(r.data()), ["tokens", "user"]);
    let user = &r.data()["user"];
    assert_eq!(
        keys(user),
        [
            "__v",
            "_id",
            "address",
            "connections",
            "createdAt",
            "directConnections",
            "email",
            "emailConfirmed",
            "isActive",
            "isVerified",
            "name",
            "phone",
            "profileCompletion",
            "profilePicture",
            "role",
            "updatedAt"
        ]
    );
    assert_eq!(user["name"], "Asha Citizen");
    assert_eq!(user["email"], "ashacitizen@gmail.com", "normalized like validator.js");
    assert_eq!(user["role"], "citizen");
    assert_eq!(user["isVerified"], true);
    assert_eq!(user["address"], json!({"street": "1 MG Road", "city": "Pune", "state": "MH", "pincode": "411001"}));
    assert_eq!(
        user["profileCompletion"],
        json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true})
    );
    let tokens = &r.data()["tokens"];
    assert_eq!(keys(tokens), ["accessToken", "refreshToken"]);

    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 2);
    let access = cookie_named(&cookies, "accessToken");
    let refresh = cookie_named(&cookies, "refreshToken");
    assert!(access.starts_with(&format!("accessToken={};", tokens["accessToken"].as_str().unwrap())));
    assert!(refresh.starts_with(&format!("refreshToken={};", tokens["refreshToken"].as_str().unwrap())));
    for (c, age) in [(access, "86400"), (refresh, "604800")] {
        assert!(c.contains(&format!("Max-Age={age}")), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"), "{c}");
        assert!(!c.contains("Secure"), "not Secure outside production: {c}");
    }

    // The access token works, and only a digest of the refresh token is stored.
    let me = app.call_without_cookies(Method::GET, "/api/auth/me", tokens["accessToken"].as_str(), None).await;
    me.assert_status(200);
    assert_eq!(me.data()["user"]["_id"], user["_id"]);
    let stored = user_by_email(&app, "ashacitizen@gmail.com").await.unwrap();
    assert_eq!(
        stored.refresh_token_hash.as_deref(),
        Some(sha256_hex(tokens["refreshToken"].as_str().unwrap()).as_str())
    );
    assert!(stored.password_hash.starts_with("$argon2"));
    // Logging in with another spelling of the same Gmail address finds the account.
    login(&app, "asha.citizen@gmail.com", PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn register_lawyer_starts_pending_and_gets_the_welcome_email() {
    let app = spawn().await;
    let admin = insert_user(&app, Role::Admin, "Cache Admin").await;
    assert_eq!(cache_status(&app, &policy::ADMIN_USERS, Some(&admin), None).await, CacheStatus::Miss);
    assert_eq!(cache_status(&app, &policy::ADMIN_USERS, Some(&admin), None).await, CacheStatus::Hit);

    let email = unique_email("lawyer");
    let body = json!({
        "name": "Lena Lawyer", "email": email, "password": PASSWORD, "role": "lawyer", "isVerified": true,
        "lawyerDetails": {"barRegistrationNumber": "MH/123/2020", "specialization": ["Criminal Law", "Family Law"],
                          "experience": "7", "verificationStatus": "verified", "verificationNotes": "trust me",
                          "verificationDocuments": ["forged.pdf"], "bio": "Bio", "favouriteColour": "blue"},
    });
    let r = post_plain(&app, "/api/auth/register", None, body).await;
    r.assert_status(201);
    let user = &r.data()["user"];
    assert_eq!(user["role"], "lawyer");
    assert_eq!(user["isVerified"], false);
    assert_eq!(
        user["profileCompletion"],
        json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": false})
    );
    let details = &user["lawyerDetails"];
    assert_eq!(details["verificationStatus"], "pending");
    assert_eq!(details["verificationDocuments"], json!([]));
    assert!(details.get("verificationNotes").is_none());
    assert!(details.get("favouriteColour").is_none(), "undeclared keys are dropped");
    assert_eq!(details["experience"], 7);
    assert_eq!(details["education"], "Law Graduate");
    assert_eq!(details["specialization"], json!(["Criminal Law", "Family Law"]));
    assert_eq!(details["barRegistrationNumber"], "MH/123/2020");

    let welcome = mail_to(&app, &email, WELCOME).await;
    assert!(welcome.contains("Dear Lena Lawyer,"), "{welcome}");
    assert!(welcome.contains("http://localhost:5174/login"), "{welcome}");
    mail_to(&app, &email, CONFIRM).await;
    assert_eq!(
        cache_status(&app, &policy::ADMIN_USERS, Some(&admin), None).await,
        CacheStatus::Miss,
        "register invalidates ADM"
    );

    // Without details: pending, role-specific details incomplete, schema defaults.
    let (bare, _) = register(&app, "lawyer", json!({})).await;
    assert_eq!(bare["profileCompletion"]["roleSpecificDetails"], false);
    assert_eq!(bare["lawyerDetails"]["verificationStatus"], "pending");
    assert_eq!(bare["lawyerDetails"]["specialization"], json!(["General Practice"]));

    // Details without a bar registration number fail the model rule (400, not 500).
    let r = post_plain(
        &app,
        "/api/auth/register",
        None,
        json!({"name": "No Bar", "email": unique_email("nobar"), "password": PASSWORD, "role": "lawyer",
               "lawyerDetails": {"experience": 3}}),
    )
    .await;
    r.assert_status(400);
    assert_eq!(
        error_paths(&r),
        [("lawyerDetails.barRegistrationNumber".into(), "Bar registration number is required".into())]
    );
}

#[tokio::test]
async fn register_law_student_persists_student_details() {
    let app = spawn().await;
    let details = json!({"universityName": " NLU Delhi ", "enrollmentYear": 2023, "semester": "3rd",
                         "specialization": "Constitutional", "rollNumber": "NLU-42"});
    let (user, token) = register(&app, "law_student", json!({"studentDetails": details})).await;
    assert_eq!(user["role"], "law_student");
    assert_eq!(user["isVerified"], true);
    let expected = json!({"universityName": "NLU Delhi", "enrollmentYear": 2023, "semester": "3rd",
                          "specialization": "Constitutional", "rollNumber": "NLU-42"});
    assert_eq!(user["studentDetails"], expected);
    let me = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_eq!(me.data()["user"]["studentDetails"], expected, "persisted");
    assert!(me.data()["user"].get("lawyerDetails").is_none());

    let r = post_plain(
        &app,
        "/api/auth/register",
        None,
        json!({"name": "Stu Dent", "email": unique_email("stu"), "password": PASSWORD, "role": "law_student",
               "studentDetails": {"semester": "9th", "enrollmentYear": 1999, "rollNumber": ""}}),
    )
    .await;
    r.assert_status(400);
    assert_eq!(
        error_paths(&r),
        [
            ("studentDetails.enrollmentYear".into(), "Enrollment year must be valid".into()),
            ("studentDetails.semester".into(), "Semester must be between 1st and 8th".into()),
            ("studentDetails.rollNumber".into(), "Roll number cannot be empty if provided".into()),
        ]
    );
}

#[tokio::test]
async fn register_refuses_bad_input_without_echoing_passwords() {
    let app = spawn().await;
    let raw = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"name\": \"Broken\", ")
        .send()
        .await
        .unwrap();
    let r = TestApp::reply(raw).await;
    r.assert_status(400);
    assert_eq!(r.body["success"], false);

    let missing = post_plain(&app, "/api/auth/register", None, json!({})).await;
    missing.assert_status(400);
    assert_eq!(missing.message(), "Validation failed");
    assert_eq!(
        error_paths(&missing),
        [
            ("name".into(), "Name must be between 2 and 50 characters".into()),
            ("email".into(), "Please provide a valid email".into()),
            ("password".into(), "Password must be at least 6 characters long".into()),
            (
                "password".into(),
                "Password must contain at least one uppercase letter, one lowercase letter, and one number".into()
            ),
        ]
    );

    let wrong_types = post_plain(
        &app,
        "/api/auth/register",
        None,
        json!({"name": {"first": "A"}, "email": 42, "password": ["Secret123"], "role": 7, "phone": true, "address": "Pune"}),
    )
    .await;
    wrong_types.assert_status(400);
    let paths: Vec<String> = error_paths(&wrong_types).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["name", "email", "password", "password", "role", "phone", "address"]);

    for (weak, expected) in [
        (
            "abc",
            vec![
                "Password must be at least 6 characters long",
                "Password must contain at least one uppercase letter, one lowercase letter, and one number",
            ],
        ),
        ("abcdefg1", vec!["Password must contain at least one uppercase letter, one lowercase letter, and one number"]),
        ("ABCDEFG1", vec!["Password must contain at least one uppercase letter, one lowercase letter, and one number"]),
        ("Abcdefgh", vec!["Password must contain at least one uppercase letter, one lowercase letter, and one number"]),
        ("Ab1", vec!["Password must be at least 6 characters long"]),
    ] {
        let r = post_plain(
            &app,
            "/api/auth/register",
            None,
            json!({"name": "Weak Pw", "email": unique_email("weak"), "password": weak}),
        )
        .await;
        r.assert_status(400);
        let msgs: Vec<String> = error_paths(&r).into_iter().map(|(_, m)| m).collect();
        assert_eq!(msgs, expected, "password {weak}");
        for e in r.body["errors"].as_array().unwrap() {
            assert!(e.get("value").is_none(), "password values are never echoed: {e}");
            assert_eq!((e["type"].as_str(), e["location"].as_str()), (Some("field"), Some("body")));
        }
        assert!(!r.body.to_string().contains(weak), "{}", r.body);
    }

    for (patch, path, msg) in [
        (json!({"role": "admin"}), "role", "Role must be citizen, lawyer, or law_student"),
        (json!({"phone": "12345"}), "phone", "Phone number must be 10 digits"),
        (json!({"email": "not-an-email"}), "email", "Please provide a valid email"),
        (json!({"email": "someone@example.museum"}), "email", "Please provide a valid email"),
        (json!({"email": "+tag@gmail.com"}), "email", "Please provide a valid email"),
        (
            json!({"role": "lawyer", "lawyerDetails": {"barRegistrationNumber": "B1", "experience": 60}}),
            "lawyerDetails.experience",
            "Experience must be between 0 and 50 years",
        ),
        (
            json!({"role": "lawyer", "lawyerDetails": {"barRegistrationNumber": "B1", "specialization": []}}),
            "lawyerDetails.specialization",
            "At least one specialization is required if provided",
        ),
        (
            json!({"role": "lawyer", "lawyerDetails": {"barRegistrationNumber": ""}}),
            "lawyerDetails.barRegistrationNumber",
            "Bar registration number cannot be empty if provided",
        ),
        (
            json!({"role": "lawyer", "lawyerDetails": {"barRegistrationNumber": "B1", "education": ""}}),
            "lawyerDetails.education",
            "Education details cannot be empty if provided",
        ),
        (
            json!({"role": "lawyer", "lawyerDetails": "all of them"}),
            "lawyerDetails",
            "Lawyer details must be an object",
        ),
        (
            json!({"role": "lawyer", "lawyerDetails": {"barRegistrationNumber": "B1", "consultationFee": -5}}),
            "lawyerDetails.consultationFee",
            "Consultation fee cannot be negative",
        ),
    ] {
        let mut body = json!({"name": "Bad Input", "email": unique_email("bad"), "password": PASSWORD});
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let r = post_plain(&app, "/api/auth/register", None, body).await;
        r.assert_status(400);
        assert_eq!(error_paths(&r), [(path.to_string(), msg.to_string())], "{patch}");
    }
    assert_eq!(user_count(&app).await, 0, "nothing was created");
}

#[tokio::test]
async fn duplicate_registration_is_a_400_even_when_concurrent() {
    let app = spawn().await;
    let first = post_plain(&app, "/api/auth/register", None, citizen_body("dup.user@gmail.com")).await;
    first.assert_status(201);
    // Another spelling of the same Gmail mailbox is the same account.
    let again = post_plain(&app, "/api/auth/register", None, citizen_body("Dup.User+2@googlemail.com")).await;
    again.assert_status(400);
    assert_eq!(again.body, json!({"success": false, "message": "User with this email already exists"}));

    // Concurrent registrations of one new address: one wins, the others get the same 400 (the
    // unique index catches what the lookup misses), never a 500.
    let email = unique_email("race");
    let attempts = (0..4).map(|_| post_plain(&app, "/api/auth/register", None, citizen_body(&email)));
    let replies = futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 201) {
        r.assert_status(400);
        assert_eq!(r.message(), "User with this email already exists");
    }
    assert_eq!(user_count(&app).await, 2);
}

#[tokio::test]
async fn login_answers_with_tokens_and_reports_failures_in_the_original_order() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Login Person").await;
    let r = login(&app, &user.email.to_uppercase(), PASSWORD).await;
    r.assert_status(200);
    assert_eq!(r.message(), "Login successful");
    assert_eq!(keys(r.data()), ["tokens", "user"]);
    assert_eq!(keys(&r.data()["tokens"]), ["accessToken", "refreshToken"]);
    assert_eq!(r.data()["user"]["_id"], json!(user.id));
    assert!(r.data()["user"].get("password").is_none() && r.data()["user"].get("refreshToken").is_none());
    assert_eq!(set_cookies(&r).len(), 2);

    let wrong = login(&app, &user.email, "Wrong123").await;
    wrong.assert_status(401);
    assert_eq!(wrong.message(), "Invalid credentials");
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    unknown.assert_status(404);
    assert_eq!(unknown.message(), "No account found with this email. Please sign up.");
    let missing = post_plain(&app, "/api/auth/login", None, json!({"email": "bad"})).await;
    missing.assert_status(400);
    assert_eq!(
        error_paths(&missing),
        [("email".into(), "Please provide a valid email".into()), ("password".into(), "Password is required".into())]
    );

    // Deactivation is reported before the password is checked; neither message mentions a
    // token (the client would otherwise try to refresh).
    let mut stored = user_by_email(&app, &user.email).await.unwrap();
    stored.is_active = false;
    users::save(&app.state().db, &mut stored).await.unwrap();
    // As every service write to a user does, so the remembered principal follows.
    nyaya::service::people::user_changed(app.state(), &stored.id, []).await;
    for password in [PASSWORD, "Wrong123"] {
        let r = login(&app, &user.email, password).await;
        r.assert_status(401);
        assert_eq!(r.message(), "Account has been deactivated");
    }
    assert!(!wrong.message().to_lowercase().contains("token"));
}

#[tokio::test]
async fn login_upgrades_migrated_bcrypt_hashes() {
    let app = spawn().await;
    let mut user =
        User::new("Old Account".into(), unique_email("old"), bcrypt::hash(PASSWORD, 4).unwrap(), Role::Citizen);
    user.profile_completion = json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": true});
    users::insert(&app.state().db, &user).await.unwrap();
    login(&app, &user.email, "Wrong123").await.assert_status(401);
    assert!(
        user_by_email(&app, &user.email).await.unwrap().password_hash.starts_with("$2"),
        "a failed login changes nothing"
    );
    login(&app, &user.email, PASSWORD).await.assert_status(200);
    assert!(user_by_email(&app, &user.email).await.unwrap().password_hash.starts_with("$argon2"));
    login(&app, &user.email, PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn access_token_problems_are_401s_whose_message_mentions_the_token() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Token Person").await;
    let me = |token: Option<String>| {
        let app = &app;
        async move { app.call_without_cookies(Method::GET, "/api/auth/me", token.as_deref(), None).await }
    };
    let r = me(None).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, no token provided");

    let now = chrono::Utc::now().timestamp();
    let expired = mint("test-access-secret", &user, now - 60);
    let valid = mint("test-access-secret", &user, now + 600);
    let mut tampered = valid.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let forged_payload = {
        let parts: Vec<&str> = valid.split('.').collect();
        let other = mint(
            "test-access-secret",
            &User::new("X".into(), "x@example.com".into(), String::new(), Role::Admin),
            now + 600,
        );
        format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2])
    };
    let refresh_secret = mint("test-refresh-secret", &user, now + 600);
    for bad in [expired, tampered, forged_payload, refresh_secret, "garbage".to_string()] {
        let r = me(Some(bad.clone())).await;
        r.assert_status(401);
        assert_eq!(r.message(), "Not authorized, token failed", "{bad}");
    }
    me(Some(valid.clone())).await.assert_status(200);

    let ghost = User::new("Ghost".into(), unique_email("ghost"), String::new(), Role::Citizen);
    let r = me(Some(token_for(&app, &ghost))).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, user not found");

    let mut stored = user_by_email(&app, &user.email).await.unwrap();
    stored.is_active = false;
    users::save(&app.state().db, &mut stored).await.unwrap();
    nyaya::service::people::user_changed(app.state(), &stored.id, []).await;
    let r = me(Some(valid)).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Account has been deactivated");
    assert!(!r.message().contains("token"));
}

/// With one secret for both kinds (allowed outside production), only the token's own `typ`
/// claim tells an access token from a refresh token: each verifier refuses the other kind,
/// over HTTP and at the Socket.IO handshake, and a token without the claim is refused.
#[tokio::test]
async fn a_refresh_token_is_never_an_access_token_even_with_one_secret_for_both() {
    use crate::realtime::{Auth, Sock};
    let app = spawn_with(&[("JWT_SECRET", "one-secret"), ("JWT_REFRESH_SECRET", "one-secret")]).await;
    let email = unique_email("kinds");
    post_plain(&app, "/api/auth/register", None, citizen_body(&email)).await.assert_status(201);
    let r = login(&app, &email, PASSWORD).await;
    r.assert_status(200);
    let access = r.data()["tokens"]["accessToken"].as_str().unwrap().to_string();
    let refresh = r.data()["tokens"]["refreshToken"].as_str().unwrap().to_string();
    let me = |token: String| {
        let app = &app;
        async move { app.call_without_cookies(Method::GET, "/api/auth/me", Some(&token), None).await }
    };

    me(access.clone()).await.assert_status(200);
    let r = me(refresh.clone()).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, token failed");
    let r = app.get(&format!("/api/chats/file/{}?token={refresh}", "a".repeat(64)), None).await;
    r.assert_status(401);
    let refused = Sock::open(&app.base, Auth::Token(&refresh), rust_socketio::TransportType::Websocket).await.err();
    assert_eq!(refused.as_deref(), Some("Authentication failed"), "a refresh token opens no socket");
    let socket = Sock::open(&app.base, Auth::Token(&access), rust_socketio::TransportType::Websocket).await;
    socket.expect("an access token opens a socket").close().await;

    // A token without the claim (as issued before tokens carried their kind) cannot be told
    // apart when the secrets are equal: refused as either kind.
    let user = user_by_email(&app, &email).await.unwrap();
    let unmarked = mint("one-secret", &user, chrono::Utc::now().timestamp() + 600);
    me(unmarked.clone()).await.assert_status(401);
    let r = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": unmarked})).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Invalid refresh token");

    // An access token is no refresh token; the refresh token still does its own job.
    let r = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": access})).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Invalid refresh token");
    let r = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": refresh})).await;
    r.assert_status(200);
    me(r.data()["accessToken"].as_str().unwrap().to_string()).await.assert_status(200);
}

#[tokio::test]
async fn refresh_rotates_both_tokens_and_refuses_reuse() {
    let app = spawn().await;
    let r = post_plain(&app, "/api/auth/register", None, citizen_body(&unique_email("rot"))).await;
    r.assert_status(201);
    let first = r.data()["tokens"]["refreshToken"].as_str().unwrap().to_string();

    let refreshed = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": first})).await;
    refreshed.assert_status(200);
    assert_eq!(refreshed.message(), "Token refreshed successfully");
    assert_eq!(keys(refreshed.data()), ["accessToken", "refreshToken"]);
    let second = refreshed.data()["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let cookies = set_cookies(&refreshed);
    assert!(cookie_named(&cookies, "refreshToken").starts_with(&format!("refreshToken={second};")));
    assert!(cookie_named(&cookies, "accessToken").contains("Max-Age=86400"));
    let access = refreshed.data()["accessToken"].as_str().unwrap();
    app.call_without_cookies(Method::GET, "/api/auth/me", Some(access), None).await.assert_status(200);

    let reuse = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": first})).await;
    reuse.assert_status(401);
    assert_eq!(reuse.message(), "Invalid refresh token");
    // The refused reuse did not disturb the current token.
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": second})).await.assert_status(200);

    let none = post_plain(&app, "/api/auth/refresh-token", None, json!({})).await;
    none.assert_status(401);
    assert_eq!(none.message(), "Refresh token not provided");
    let user = user_by_email(&app, r.data()["user"]["email"].as_str().unwrap()).await.unwrap();
    let expired = mint("test-refresh-secret", &user, chrono::Utc::now().timestamp() - 60);
    let access_as_refresh = r.data()["tokens"]["accessToken"].as_str().unwrap().to_string();
    for bad in ["garbage".to_string(), expired, access_as_refresh] {
        let r = post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": bad})).await;
        r.assert_status(401);
        assert_eq!(r.message(), "Invalid refresh token");
    }
}

#[tokio::test]
async fn refresh_reads_the_cookie_when_the_body_has_no_token() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Lawyer, "Cookie Lawyer").await;
    // app.client keeps cookies, like a browser.
    let r = app.post("/api/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    r.assert_status(200);
    let from_login = r.data()["tokens"]["refreshToken"].as_str().unwrap().to_string();
    let first = app.post("/api/auth/refresh-token", None, json!({})).await;
    first.assert_status(200);
    let second = app.post("/api/auth/refresh-token", None, json!({})).await;
    second.assert_status(200);
    assert_ne!(first.data()["refreshToken"], second.data()["refreshToken"], "the jar holds the rotated cookie");
    // The cookie-authenticated session also reaches protected routes without a header.
    app.get("/api/auth/me", None).await.assert_status(200);
    // A token in the body wins over the cookie.
    let stale = app.post("/api/auth/refresh-token", None, json!({"refreshToken": from_login})).await;
    stale.assert_status(401);
    assert_eq!(stale.message(), "Invalid refresh token");
}

#[tokio::test]
async fn a_new_login_invalidates_the_previous_refresh_token() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Two Devices").await;
    let phone = login(&app, &user.email, PASSWORD).await;
    let laptop = login(&app, &user.email, PASSWORD).await;
    let old = phone.data()["tokens"]["refreshToken"].clone();
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": old})).await.assert_status(401);
    let current = laptop.data()["tokens"]["refreshToken"].clone();
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": current})).await.assert_status(200);
}

#[tokio::test]
async fn logout_ends_the_stored_session_and_clears_both_cookies() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Leaving Soon").await;
    let r = app.post("/api/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    let access = r.data()["tokens"]["accessToken"].as_str().unwrap().to_string();
    let refresh = r.data()["tokens"]["refreshToken"].clone();

    let unauthenticated = app.call_without_cookies(Method::POST, "/api/auth/logout", None, None).await;
    unauthenticated.assert_status(401);
    assert_eq!(unauthenticated.message(), "Not authorized, no token provided");

    let out = app.post("/api/auth/logout", Some(&access), json!({})).await;
    out.assert_status(200);
    assert_eq!(out.body, json!({"success": true, "message": "Logout successful"}));
    let cookies = set_cookies(&out);
    for name in ["accessToken", "refreshToken"] {
        let c = cookie_named(&cookies, name);
        assert!(c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"), "{c}");
    }
    assert!(user_by_email(&app, &user.email).await.unwrap().refresh_token_hash.is_none());
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": refresh})).await.assert_status(401);
    // The jar dropped the cookies: without a header the request is anonymous again.
    app.get("/api/auth/me", None).await.assert_status(401);
}

#[tokio::test]
async fn registration_emails_a_single_use_confirmation_link() {
    let app = spawn().await;
    let email = unique_email("confirm");
    let r = post_plain(&app, "/api/auth/register", None, citizen_body(&email)).await;
    r.assert_status(201);
    assert_eq!(r.data()["user"]["emailConfirmed"], false);
    let access = r.data()["tokens"]["accessToken"].as_str().unwrap().to_string();

    let mail = mail_to(&app, &email, CONFIRM).await;
    assert!(mail.contains("Dear Asha Citizen,"), "{mail}");
    let token = link_token(&mail, "http://localhost:5174/confirm-email/");
    assert_eq!(token.len(), 64, "{mail}");
    let stored = user_by_email(&app, &email).await.unwrap();
    assert_eq!(
        stored.email_confirmation_hash.as_deref(),
        Some(sha256_hex(&token).as_str()),
        "only the digest is stored"
    );
    assert!(stored.email_confirmed_at.is_none());

    // Refusals: a wrong token, and no token at all.
    let wrong = post_plain(&app, "/api/auth/confirm-email", None, json!({"token": "f".repeat(64)})).await;
    wrong.assert_status(400);
    assert_eq!(wrong.body["success"], false);
    assert_eq!(wrong.message(), "Invalid or expired email confirmation token");
    let missing = post_plain(&app, "/api/auth/confirm-email", None, json!({})).await;
    missing.assert_status(400);
    assert_eq!(error_paths(&missing), [("token".into(), "Confirmation token is required".into())]);
    // Not confirmed, and confirmation gates nothing.
    let me = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&access), None).await;
    me.assert_status(200);
    assert_eq!(me.data()["user"]["emailConfirmed"], false);
    login(&app, &email, PASSWORD).await.assert_status(200);

    let ok = post_plain(&app, "/api/auth/confirm-email", None, json!({"token": token})).await;
    ok.assert_status(200);
    assert_eq!(ok.body, json!({"success": true, "message": "Email confirmed successfully"}));
    let me = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&access), None).await;
    assert_eq!(me.data()["user"]["emailConfirmed"], true);
    let after_login = login(&app, &email, PASSWORD).await;
    assert_eq!(after_login.data()["user"]["emailConfirmed"], true);
    let stored = user_by_email(&app, &email).await.unwrap();
    assert!(stored.email_confirmed_at.is_some());
    assert!(stored.email_confirmation_hash.is_none() && stored.email_confirmation_expires.is_none());

    let again = post_plain(&app, "/api/auth/confirm-email", None, json!({"token": token})).await;
    again.assert_status(400);
    assert_eq!(again.message(), "Invalid or expired email confirmation token");
}

#[tokio::test]
async fn an_expired_confirmation_token_is_refused() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Slow Reader").await;
    let token = "ab".repeat(32);
    let past = nyaya::time::now() - chrono::Duration::minutes(1);
    let kind = users::EmailedToken::EmailConfirmation;
    users::set_emailed_token(&app.state().db, &user.id, kind, &sha256_hex(&token), past).await.unwrap();
    let r = post_plain(&app, "/api/auth/confirm-email", None, json!({"token": token})).await;
    r.assert_status(400);
    assert_eq!(r.message(), "Invalid or expired email confirmation token");
    assert!(user_by_email(&app, &user.email).await.unwrap().email_confirmed_at.is_none());
}

#[tokio::test]
async fn forgot_and_reset_password_issue_a_single_use_expiring_token() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Forgetful Person").await;
    let generic = "If an account with that email exists, a password reset link has been sent.";

    let unknown = post_plain(&app, "/api/auth/forgot-password", None, json!({"email": "nobody@example.com"})).await;
    unknown.assert_status(200);
    assert_eq!(unknown.body, json!({"success": true, "message": generic}));
    let invalid = post_plain(&app, "/api/auth/forgot-password", None, json!({"email": "nope"})).await;
    invalid.assert_status(400);
    assert_eq!(error_paths(&invalid), [("email".into(), "Please provide a valid email".into())]);

    let r = post_plain(&app, "/api/auth/forgot-password", None, json!({"email": user.email})).await;
    r.assert_status(200);
    assert_eq!(r.message(), generic);
    let token = r.data()["resetToken"].as_str().expect("development shows the token").to_string();
    assert_eq!(r.data()["message"], "Use this token to reset your password");
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()));
    let stored = user_by_email(&app, &user.email).await.unwrap();
    assert_eq!(stored.password_reset_hash.as_deref(), Some(sha256_hex(&token).as_str()), "only the digest is stored");
    let mail = mail_to(&app, &user.email, RESET).await;
    assert!(mail.contains(&format!("/reset-password?token={token}")), "{mail}");

    // Refusals change nothing: the token keeps working and the old password too.
    let wrong = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"token": "f".repeat(64), "newPassword": "Fresh123", "confirmPassword": "Fresh123"}),
    )
    .await;
    wrong.assert_status(400);
    assert_eq!(wrong.message(), "Invalid or expired password reset token");
    let weak = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"token": token, "newPassword": "weak", "confirmPassword": "other"}),
    )
    .await;
    weak.assert_status(400);
    assert_eq!(
        error_paths(&weak),
        [
            ("newPassword".into(), "New password must be at least 6 characters long".into()),
            (
                "newPassword".into(),
                "New password must contain at least one uppercase letter, one lowercase letter, and one number".into()
            ),
            ("confirmPassword".into(), "Password confirmation does not match new password".into()),
        ]
    );
    assert!(!weak.body.to_string().contains("weak\"") && !weak.body.to_string().contains("other"));
    let missing = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"newPassword": "Fresh123", "confirmPassword": "Fresh123"}),
    )
    .await;
    assert_eq!(error_paths(&missing), [("token".into(), "Reset token is required".into())]);
    login(&app, &user.email, PASSWORD).await.assert_status(200);
    let session = login(&app, &user.email, PASSWORD).await;

    let ok = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"token": token, "newPassword": "Fresh123", "confirmPassword": "Fresh123"}),
    )
    .await;
    ok.assert_status(200);
    assert_eq!(
        ok.body,
        json!({"success": true, "message": "Password reset successfully. Please login with your new password."})
    );
    login(&app, &user.email, PASSWORD).await.assert_status(401);
    let stale_refresh = session.data()["tokens"]["refreshToken"].clone();
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": stale_refresh})).await.assert_status(401);
    let after = user_by_email(&app, &user.email).await.unwrap();
    assert!(after.password_reset_hash.is_none() && after.password_reset_expires.is_none());

    let reuse = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"token": token, "newPassword": "Other123", "confirmPassword": "Other123"}),
    )
    .await;
    reuse.assert_status(400);
    assert_eq!(reuse.message(), "Invalid or expired password reset token");
    login(&app, &user.email, "Fresh123").await.assert_status(200);

    // An expired token is refused and leaves the password alone.
    let r = post_plain(&app, "/api/auth/forgot-password", None, json!({"email": user.email})).await;
    let late = r.data()["resetToken"].as_str().unwrap().to_string();
    let past = nyaya::time::now() - chrono::Duration::minutes(11);
    users::set_emailed_token(&app.state().db, &after.id, users::EmailedToken::PasswordReset, &sha256_hex(&late), past)
        .await
        .unwrap();
    let expired = post_plain(
        &app,
        "/api/auth/reset-password",
        None,
        json!({"token": late, "newPassword": "Later123", "confirmPassword": "Later123"}),
    )
    .await;
    expired.assert_status(400);
    assert_eq!(expired.message(), "Invalid or expired password reset token");
    login(&app, &user.email, "Fresh123").await.assert_status(200);
}

#[tokio::test]
async fn me_returns_the_clean_user_with_legacy_connections_populated() {
    let app = spawn().await;
    let lawyer = insert_verified_lawyer(&app, "Connected Lawyer", &["Tax Law"], 9).await;
    let mut citizen = insert_user(&app, Role::Citizen, "Connected Citizen").await;
    let gone = nyaya::ids::Id::new();
    citizen.connections = json!([
        {"_id": nyaya::ids::Id::new(), "userId": lawyer.id, "connectionType": "lawyer",
         "connectedAt": "2024-05-01T10:00:00.000Z"},
        {"_id": nyaya::ids::Id::new(), "userId": gone, "connectionType": "lawyer",
         "connectedAt": "2024-05-02T10:00:00.000Z"},
    ]);
    users::save(&app.state().db, &mut citizen).await.unwrap();
    let r = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&token_for(&app, &citizen)), None).await;
    r.assert_status(200);
    assert_eq!(keys(r.data()), ["user"]);
    let user = &r.data()["user"];
    assert_eq!(user["isVerified"], true);
    assert!(user.get("lawyerDetails").is_none() && user.get("password").is_none());
    assert_eq!(
        user["connections"][0]["userId"],
        json!({"_id": lawyer.id, "name": "Connected Lawyer", "email": lawyer.email, "role": "lawyer",
               "lawyerDetails": {"specialization": ["Tax Law"]}})
    );
    assert_eq!(user["connections"][0]["connectionType"], "lawyer");
    assert_eq!(user["connections"][1]["userId"], Value::Null);

    let me_lawyer = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&token_for(&app, &lawyer)), None).await;
    assert_eq!(me_lawyer.data()["user"]["lawyerDetails"]["verificationStatus"], "verified");
    assert_eq!(me_lawyer.data()["user"]["isVerified"], true);
}

#[tokio::test]
async fn profile_updates_merge_nested_documents_and_ignore_verification_fields() {
    let app = spawn().await;
    let admin = insert_user(&app, Role::Admin, "Profile Admin").await;
    let (lawyer, token) = register(
        &app,
        "lawyer",
        json!({"address": {"street": "1 Court Rd", "city": "Delhi"},
               "lawyerDetails": {"barRegistrationNumber": "DL/1/2019", "specialization": ["Civil Law"], "experience": 4}}),
    )
    .await;
    let lawyer_id: nyaya::ids::Id = lawyer["_id"].as_str().unwrap().parse().unwrap();
    for (policy, subject) in [(&policy::LAWYERS_VERIFIED, None), (&policy::LAWYER_PROFILE, Some(&lawyer_id))] {
        cache_status(&app, policy, None, subject).await;
        assert_eq!(cache_status(&app, policy, None, subject).await, CacheStatus::Hit);
    }
    cache_status(&app, &policy::ADMIN_USERS, Some(&admin), None).await;

    let put = |token: String, body: Value| {
        let app = &app;
        async move { app.call_without_cookies(Method::PUT, "/api/auth/profile", Some(&token), Some(body)).await }
    };
    let r = put(
        token.clone(),
        json!({"name": "  Renamed Lawyer ", "address": {"city": "Mumbai"},
               "lawyerDetails": {"experience": 7, "consultationFee": "1500", "bio": "Hello",
                                 "verificationStatus": "verified", "verificationNotes": "self-approved",
                                 "verificationDocuments": ["x.pdf"]},
               "studentDetails": {"universityName": "ignored for lawyers"}}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.message(), "Profile updated successfully");
    let user = &r.data()["user"];
    assert_eq!(user["name"], "Renamed Lawyer");
    assert_eq!(user["address"], json!({"street": "1 Court Rd", "city": "Mumbai"}));
    let d = &user["lawyerDetails"];
    assert_eq!(
        (d["experience"].clone(), d["consultationFee"].clone(), d["bio"].clone()),
        (json!(7), json!(1500), json!("Hello"))
    );
    assert_eq!(d["barRegistrationNumber"], "DL/1/2019");
    assert_eq!(d["specialization"], json!(["Civil Law"]));
    assert_eq!(d["verificationStatus"], "pending");
    assert_eq!(d["verificationDocuments"], json!([]));
    assert!(d.get("verificationNotes").is_none());
    assert!(user.get("studentDetails").is_none());
    assert_eq!(user["isVerified"], false);
    for (policy, subject) in [(&policy::LAWYERS_VERIFIED, None), (&policy::LAWYER_PROFILE, Some(&lawyer_id))] {
        assert_eq!(
            cache_status(&app, policy, None, subject).await,
            CacheStatus::Miss,
            "a lawyer's edit invalidates the directory"
        );
    }
    assert_eq!(cache_status(&app, &policy::ADMIN_USERS, Some(&admin), None).await, CacheStatus::Miss);

    // Refused edits change nothing.
    for (body, path, msg) in [
        (
            json!({"lawyerDetails": {"experience": 60}}),
            "lawyerDetails.experience",
            "Experience must be between 0 and 50 years",
        ),
        (
            json!({"lawyerDetails": {"experience": ""}}),
            "lawyerDetails.experience",
            "Experience must be between 0 and 50 years",
        ),
        (
            json!({"lawyerDetails": {"consultationFee": "lots"}}),
            "lawyerDetails.consultationFee",
            "Consultation fee must be a number",
        ),
        (
            json!({"lawyerDetails": {"consultationFee": -1}}),
            "lawyerDetails.consultationFee",
            "Consultation fee cannot be negative",
        ),
        (
            json!({"lawyerDetails": {"specialization": []}}),
            "lawyerDetails.specialization",
            "At least one specialization is required",
        ),
        (
            json!({"lawyerDetails": {"practiceAreas": [{"nested": true}]}}),
            "lawyerDetails.practiceAreas",
            "lawyerDetails.practiceAreas must be a list of text values",
        ),
        (json!({"name": "X"}), "name", "Name must be between 2 and 50 characters"),
        (json!({"phone": ""}), "phone", "Phone number must be 10 digits"),
        (json!({"address": ["Delhi"]}), "address", "Address must be an object"),
    ] {
        let r = put(token.clone(), body.clone()).await;
        r.assert_status(400);
        assert_eq!(error_paths(&r), [(path.to_string(), msg.to_string())], "{body}");
    }
    let me = app.call_without_cookies(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_eq!(me.data()["user"]["lawyerDetails"], *d);
    assert_eq!(me.data()["user"]["name"], "Renamed Lawyer");

    // Citizens: lawyer details are ignored; only ADM is invalidated.
    let (citizen, citizen_token) = register(&app, "citizen", json!({})).await;
    cache_status(&app, &policy::LAWYERS_VERIFIED, None, None).await;
    let r = put(citizen_token, json!({"phone": "9123456789", "lawyerDetails": {"bio": "not a lawyer"}})).await;
    r.assert_status(200);
    assert_eq!(r.data()["user"]["phone"], "9123456789");
    assert!(r.data()["user"].get("lawyerDetails").is_none());
    assert_eq!(r.data()["user"]["_id"], citizen["_id"]);
    assert_eq!(cache_status(&app, &policy::LAWYERS_VERIFIED, None, None).await, CacheStatus::Hit);

    // Law students: falsy values skip the validators; given keys merge over stored ones.
    let (_, student_token) = register(
        &app,
        "law_student",
        json!({"studentDetails": {"universityName": "NLSIU", "enrollmentYear": 2022, "semester": "2nd",
                                  "rollNumber": "R-1"}}),
    )
    .await;
    let r = put(
        student_token.clone(),
        json!({"studentDetails": {"semester": "4th", "specialization": "", "enrollmentYear": ""}}),
    )
    .await;
    r.assert_status(200);
    let year = chrono::Datelike::year(&chrono::Utc::now());
    assert_eq!(
        r.data()["user"]["studentDetails"],
        json!({"universityName": "NLSIU", "enrollmentYear": year, "semester": "4th", "specialization": "",
               "rollNumber": "R-1"})
    );
    let r = put(student_token.clone(), json!({"studentDetails": {"semester": "10th"}})).await;
    r.assert_status(400);
    assert_eq!(error_paths(&r), [("studentDetails.semester".into(), "Semester must be between 1st and 8th".into())]);
    // Past the request validators, the model's limits still answer 400.
    let r = put(
        student_token,
        json!({"studentDetails": {"universityName": "U".repeat(101), "rollNumber": "R".repeat(31)}}),
    )
    .await;
    r.assert_status(400);
    assert_eq!(
        error_paths(&r),
        [
            ("studentDetails.universityName".into(), "University name cannot be more than 100 characters".into()),
            ("studentDetails.rollNumber".into(), "Roll number cannot be more than 30 characters".into()),
        ]
    );
}

#[tokio::test]
async fn update_password_checks_the_current_password_and_ends_stored_sessions() {
    let app = spawn().await;
    let user = insert_user(&app, Role::Citizen, "Changing Keys").await;
    let session = login(&app, &user.email, PASSWORD).await;
    let token = session.data()["tokens"]["accessToken"].as_str().unwrap().to_string();
    let refresh = session.data()["tokens"]["refreshToken"].clone();
    let put = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move { app.call_without_cookies(Method::PUT, "/api/auth/update-password", Some(&token), Some(body)).await }
    };

    let wrong =
        put(json!({"currentPassword": "Wrong123", "newPassword": "Brand123", "confirmPassword": "Brand123"})).await;
    wrong.assert_status(400);
    assert_eq!(wrong.message(), "Current password is incorrect");
    let invalid = put(json!({"newPassword": "short", "confirmPassword": "Brand123"})).await;
    invalid.assert_status(400);
    assert_eq!(
        error_paths(&invalid),
        [
            ("currentPassword".into(), "Current password is required".into()),
            ("newPassword".into(), "New password must be at least 6 characters long".into()),
            (
                "newPassword".into(),
                "New password must contain at least one uppercase letter, one lowercase letter, and one number".into()
            ),
            ("confirmPassword".into(), "Password confirmation does not match new password".into()),
        ]
    );
    assert!(invalid.body["errors"].as_array().unwrap().iter().all(|e| e.get("value").is_none()));
    // Nothing changed: the old password and the stored session still work.
    login(&app, &user.email, PASSWORD).await.assert_status(200);
    let session = login(&app, &user.email, PASSWORD).await;
    let refresh_now = session.data()["tokens"]["refreshToken"].clone();
    assert_ne!(refresh_now, refresh);

    let ok = put(json!({"currentPassword": PASSWORD, "newPassword": "Brand123", "confirmPassword": "Brand123"})).await;
    ok.assert_status(200);
    assert_eq!(ok.body, json!({"success": true, "message": "Password updated successfully. Please login again."}));
    assert!(set_cookies(&ok).is_empty(), "cookies are left in place");
    post_plain(&app, "/api/auth/refresh-token", None, json!({"refreshToken": refresh_now})).await.assert_status(401);
    login(&app, &user.email, PASSWORD).await.assert_status(401);
    login(&app, &user.email, "Brand123").await.assert_status(200);
}

/// A stand-in for Google's siteverify: the `response` field picks the verdict, and the
/// secret must be the configured one.
async fn fake_siteverify() -> String {
    use axum::{Form, Json, routing::post};
    async fn verify(Form(form): Form<std::collections::HashMap<String, String>>) -> Json<Value> {
        if form.get("secret").map(String::as_str) != Some("site-secret") {
            return Json(json!({"success": false, "error-codes": ["invalid-input-secret"]}));
        }
        Json(match form.get("response").map(String::as_str) {
            Some("human") => json!({"success": true, "score": 0.9}),
            Some("bot") => json!({"success": true, "score": 0.2}),
            _ => json!({"success": false, "error-codes": ["invalid-input-response"]}),
        })
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/siteverify", post(verify))).await });
    format!("http://{addr}/siteverify")
}

#[tokio::test]
async fn production_requires_and_verifies_captcha_and_marks_cookies_secure() {
    let verify_url = fake_siteverify().await;
    let app = spawn_with(&[
        ("NYAYA_ENV", "production"),
        ("RECAPTCHA_SECRET_KEY", "site-secret"),
        ("RECAPTCHA_VERIFY_URL", &verify_url),
    ])
    .await;
    let email = unique_email("prod");
    let without = post_plain(&app, "/api/auth/register", None, citizen_body(&email)).await;
    without.assert_status(400);
    assert_eq!(without.message(), "CAPTCHA verification is required");
    assert_eq!(error_paths(&without), [("captchaToken".into(), "CAPTCHA verification is required".into())]);

    let with = |token: &str| {
        let mut body = citizen_body(&email);
        body["captchaToken"] = json!(token);
        body
    };
    let failed = post_plain(&app, "/api/auth/register", None, with("forged")).await;
    failed.assert_status(400);
    assert_eq!(failed.message(), "CAPTCHA verification failed: invalid-input-response");
    let low = post_plain(&app, "/api/auth/register", None, with("bot")).await;
    low.assert_status(400);
    assert_eq!(low.message(), "CAPTCHA score too low");
    assert_eq!(user_count(&app).await, 0);

    let ok = post_plain(&app, "/api/auth/register", None, with("human")).await;
    ok.assert_status(201);
    let cookies = set_cookies(&ok);
    assert!(cookies.iter().all(|c| c.contains("; Secure")), "{cookies:?}");

    let no_captcha = login(&app, &email, PASSWORD).await;
    no_captcha.assert_status(400);
    assert_eq!(no_captcha.message(), "CAPTCHA verification is required");
    let r = post_plain(
        &app,
        "/api/auth/login",
        None,
        json!({"email": email, "password": PASSWORD, "captchaToken": "human"}),
    )
    .await;
    r.assert_status(200);

    // Outside development the reset token is only emailed.
    let forgot = post_plain(&app, "/api/auth/forgot-password", None, json!({"email": email})).await;
    forgot.assert_status(200);
    assert!(forgot.body.get("data").is_none(), "{}", forgot.body);
    mail_to(&app, &email, RESET).await;
}

#[tokio::test]
async fn production_without_a_recaptcha_secret_accepts_any_non_empty_token() {
    let app = spawn_with(&[("NYAYA_ENV", "production")]).await;
    let mut body = citizen_body(&unique_email("nosecret"));
    post_plain(&app, "/api/auth/register", None, body.clone()).await.assert_status(400);
    body["captchaToken"] = json!("whatever");
    post_plain(&app, "/api/auth/register", None, body).await.assert_status(201);
}

#[tokio::test]
async fn create_admin_command_creates_or_promotes_idempotently() {
    let app = spawn().await;
    let config = &app.state().config;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nyaya"))
            .arg("create-admin")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &config.database_url)
            .env("DATA_DIR", app.data_dir.join("cli"))
            .env("RUST_LOG", "error")
            .output()
            .expect("run nyaya")
    };
    let out = run(&["--email", "Chief.Admin@Example.com", "--password", "Admin123", "--name", "Chief Admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("created admin: Chief Admin <chief.admin@example.com>"), "{stdout}");
    let r = login(&app, "chief.admin@example.com", "Admin123").await;
    r.assert_status(200);
    assert_eq!(r.data()["user"]["role"], "admin");
    assert_eq!(r.data()["user"]["isVerified"], true);

    let again = run(&["--email", "chief.admin@example.com", "--password", "Admin123"]);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("admin already exists; nothing changed"));
    assert_eq!(user_count(&app).await, 1);

    let (citizen, _) = register(&app, "citizen", json!({})).await;
    let email = citizen["email"].as_str().unwrap();
    let promoted = run(&["--email", email, "--password", PASSWORD]);
    assert!(String::from_utf8_lossy(&promoted.stdout).starts_with("promoted to admin"), "{promoted:?}");
    assert_eq!(login(&app, email, PASSWORD).await.data()["user"]["role"], "admin");

    let weak = run(&["--email", "x@example.com", "--password", "weak"]);
    assert!(!weak.status.success());
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert!(stderr.contains("password: Password must be at least 6 characters long"), "{stderr}");
    assert!(user_by_email(&app, "x@example.com").await.is_none());
}

#[tokio::test]
async fn auth_routes_are_documented() {
    let app = spawn().await;
    let doc = app.get("/api/docs/openapi.json", None).await;
    doc.assert_status(200);
    for path in [
        "register",
        "login",
        "refresh-token",
        "forgot-password",
        "reset-password",
        "logout",
        "me",
        "profile",
        "update-password",
    ] {
        assert!(doc.body["paths"].get(format!("/api/auth/{path}")).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn authorization_gates_answer_like_the_original() {
    use axum::{Json, Router, routing::get};
    use nyaya::http::extract::{Admin, Citizen, VerifiedLawyer, require_verified_lawyer};
    let app = spawn().await;
    // The gates as extractors on a small router sharing the app's state.
    let gated = Router::new()
        .route("/admin", get(|Admin(u): Admin| async move { Json(json!({"id": u.id})) }))
        .route("/citizen", get(|Citizen(u): Citizen| async move { Json(json!({"id": u.id})) }))
        .route("/verified", get(|VerifiedLawyer(u): VerifiedLawyer| async move { Json(json!({"id": u.id})) }))
        .with_state(app.state().clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, gated).await });
    let get = |path: &'static str, token: Option<String>| {
        let url = format!("{base}{path}");
        async move {
            let mut req = reqwest::Client::new().get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            TestApp::reply(req.send().await.unwrap()).await
        }
    };

    let citizen = insert_user(&app, Role::Citizen, "Gate Citizen").await;
    let student = insert_user(&app, Role::LawStudent, "Gate Student").await;
    let admin = insert_user(&app, Role::Admin, "Gate Admin").await;
    let pending = insert_user(&app, Role::Lawyer, "Gate Pending").await;
    let verified = insert_verified_lawyer(&app, "Gate Verified", &["Tax Law"], 3).await;
    let mut rejected = insert_user(&app, Role::Lawyer, "Gate Rejected").await;
    rejected.lawyer_details.as_mut().unwrap()["verificationStatus"] = json!("rejected");
    users::save(&app.state().db, &mut rejected).await.unwrap();

    get("/admin", Some(token_for(&app, &admin))).await.assert_status(200);
    let r = get("/admin", Some(token_for(&app, &citizen))).await;
    r.assert_status(403);
    assert_eq!(
        r.body,
        json!({"success": false, "message": "User role citizen is not authorized to access this route"})
    );
    let r = get("/citizen", Some(token_for(&app, &student))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role law_student is not authorized to access this route");
    let r = get("/verified", None).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Not authorized, no token provided");
    let r = get("/verified", Some(token_for(&app, &citizen))).await;
    r.assert_status(403);
    assert_eq!(r.message(), "User role citizen is not authorized to access this route");

    for (lawyer, status) in [(&pending, "pending"), (&rejected, "rejected")] {
        let r = get("/verified", Some(token_for(&app, lawyer))).await;
        r.assert_status(403);
        assert_eq!(
            r.body,
            json!({"success": false,
                   "message": "Your lawyer account is pending verification. Please wait for admin approval before accessing this feature.",
                   "code": "LAWYER_NOT_VERIFIED",
                   "data": {"verificationStatus": status, "isVerified": false, "role": "lawyer",
                            "message": "Contact admin if verification is taking longer than expected."}})
        );
    }
    let r = get("/verified", Some(token_for(&app, &verified))).await;
    r.assert_status(200);
    assert_eq!(r.body["id"], json!(verified.id));

    let not_lawyer = require_verified_lawyer(&citizen).unwrap_err();
    assert_eq!((not_lawyer.status.as_u16(), not_lawyer.code), (403, Some("LAWYER_ROLE_REQUIRED")));
    assert_eq!(not_lawyer.message, "Access restricted to lawyers only");
    let mut inactive = verified.clone();
    inactive.is_active = false;
    let deactivated = require_verified_lawyer(&inactive).unwrap_err();
    assert_eq!((deactivated.status.as_u16(), deactivated.code), (403, Some("ACCOUNT_DEACTIVATED")));
    // Over HTTP, `protect` already refuses a deactivated account with a 401.
    users::save(&app.state().db, &mut inactive).await.unwrap();
    nyaya::service::people::user_changed(app.state(), &inactive.id, []).await;
    let r = get("/verified", Some(token_for(&app, &verified))).await;
    r.assert_status(401);
    assert_eq!(r.message(), "Account has been deactivated");
}
