//! Credentials: argon2 password hashes (bcrypt accepted from migrated accounts), HS256 access
//! and refresh JWTs, and SHA-256 digests for stored refresh and reset tokens.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::ids::Id;
use crate::store::users::{Role, User};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    pub email: String,
    pub role: String,
    pub iat: u64,
    pub exp: u64,
    /// Refresh tokens only: a random id, so two tokens issued in the same second differ and a
    /// rotated-out token can never equal its successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The kind of token (`access` or `refresh`), so that neither can stand in for the other
    /// even when both are signed with one secret. Absent from tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The two kinds of token, named by their `typ` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

#[derive(Clone)]
struct KeyPair {
    kind: TokenKind,
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: std::time::Duration,
}

/// Issues and checks the two kinds of token; built once from the configuration.
#[derive(Clone)]
pub struct Tokens {
    access: KeyPair,
    refresh: KeyPair,
    /// Whether `JWT_SECRET` and `JWT_REFRESH_SECRET` differ (always in production).
    distinct_secrets: bool,
}

pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn new(config: &Config) -> Tokens {
        let pair = |kind, secret: &str, lifetime| KeyPair {
            kind,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            lifetime,
        };
        Tokens {
            access: pair(TokenKind::Access, &config.jwt_secret, config.jwt_expire),
            refresh: pair(TokenKind::Refresh, &config.jwt_refresh_secret, config.jwt_refresh_expire),
            distinct_secrets: config.jwt_secret != config.jwt_refresh_secret,
        }
    }

    fn sign(keys: &KeyPair, user: &User, jti: Option<String>) -> String {
        let iat = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            id: user.id.to_string(),
            email: user.email.clone(),
            role: user.role.as_str().to_string(),
            iat,
            exp: iat + keys.lifetime.as_secs(),
            jti,
            typ: Some(keys.kind.as_str().to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// A token signed with this kind's secret, unexpired, and of this kind.
    ///
    /// A token without `typ` was issued before tokens named their kind. When the two secrets
    /// differ, the signature alone says which kind it is (the other kind's secret cannot have
    /// made it), so it is accepted and sessions survive the upgrade. With one secret for both
    /// (never in production) nothing tells a refresh token from an access token, so it is
    /// refused by both verifiers: those users sign in again.
    fn check(&self, keys: &KeyPair, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &validation).map(|d| d.claims).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        match claims.typ.as_deref() {
            Some(kind) if kind == keys.kind.as_str() => Ok(claims),
            None if self.distinct_secrets => Ok(claims),
            _ => Err(TokenError::Invalid),
        }
    }

    pub fn issue(&self, user: &User) -> TokenPair {
        TokenPair {
            access: Self::sign(&self.access, user, None),
            refresh: Self::sign(&self.refresh, user, Some(crate::ids::random_hex(12))),
        }
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        self.check(&self.access, token)
    }

    pub fn verify_refresh(&self, token: &str) -> Result<Claims, TokenError> {
        self.check(&self.refresh, token)
    }

    pub fn access_lifetime(&self) -> std::time::Duration {
        self.access.lifetime
    }

    pub fn refresh_lifetime(&self) -> std::time::Duration {
        self.refresh.lifetime
    }
}

impl Claims {
    pub fn user_id(&self) -> Option<Id> {
        self.id.parse().ok()
    }
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }
}

/// Hashes a password with argon2id. CPU-heavy: call from `spawn_blocking`
/// (see [`hash_password_async`]).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against an argon2 or (migrated) bcrypt hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// Whether a stored hash should be replaced by a fresh argon2 one after a successful login.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with("$argon2")
}

pub async fn hash_password_async(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await?
}

pub async fn verify_password_async(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false)
}

/// SHA-256 hex digest, for tokens that are stored but must not be readable from the database.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Why a CAPTCHA was refused; the text is the message of the 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct CaptchaRejected(pub String);

#[derive(Deserialize)]
struct SiteVerify {
    success: bool,
    score: Option<f64>,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
}

/// docs/api.md 1.6: outside production the check is skipped. In production an empty token is
/// refused; with `RECAPTCHA_SECRET_KEY` set the token is checked with Google's `siteverify`
/// (v3 scores below `RECAPTCHA_MIN_SCORE` fail), without it any non-empty token passes and a
/// warning is logged once.
pub async fn verify_captcha(config: &Config, token: &str) -> Result<(), CaptchaRejected> {
    if !config.env.is_production() {
        return Ok(());
    }
    if token.trim().is_empty() {
        return Err(CaptchaRejected("CAPTCHA verification is required".into()));
    }
    let Some(secret) = config.recaptcha_secret.as_deref() else {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!("RECAPTCHA_SECRET_KEY is not set: CAPTCHA tokens are accepted without verification")
        });
        return Ok(());
    };
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().expect("HTTP client")
    });
    let reply = client
        .post(&config.recaptcha_verify_url)
        .form(&[("secret", secret), ("response", token)])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    let verdict = match reply {
        Ok(res) => res.json::<SiteVerify>().await,
        Err(e) => Err(e),
    };
    let verdict = verdict.map_err(|e| {
        tracing::error!(error = %e, "CAPTCHA verification request failed");
        CaptchaRejected("CAPTCHA verification failed".into())
    })?;
    if !verdict.success {
        let codes =
            if verdict.error_codes.is_empty() { "Unknown error".to_string() } else { verdict.error_codes.join(", ") };
        return Err(CaptchaRejected(format!("CAPTCHA verification failed: {codes}")));
    }
    if verdict.score.is_some_and(|s| s < config.recaptcha_min_score) {
        return Err(CaptchaRejected("CAPTCHA score too low".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_and_bcrypt_hashes_verify() {
        let h = hash_password("Secret123").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("Secret123", &h));
        assert!(!verify_password("secret123", &h));
        let legacy = bcrypt::hash("Secret123", 4).unwrap();
        assert!(verify_password("Secret123", &legacy));
        assert!(needs_rehash(&legacy));
    }

    #[test]
    fn refresh_tokens_issued_together_differ_and_access_tokens_keep_the_original_claims() {
        let config = Config::from_lookup(&|name| match name {
            "JWT_SECRET" => Some("a".into()),
            "JWT_REFRESH_SECRET" => Some("b".into()),
            "DATA_DIR" => Some(std::env::temp_dir().display().to_string()),
            _ => None,
        })
        .unwrap();
        let tokens = Tokens::new(&config);
        let user = User::new("Ann".into(), "ann@example.com".into(), "x".into(), Role::Citizen);
        let (a, b) = (tokens.issue(&user), tokens.issue(&user));
        assert_ne!(a.refresh, b.refresh);
        assert!(tokens.verify_refresh(&a.refresh).unwrap().jti.is_some());
        let access = tokens.verify_access(&a.access).unwrap();
        assert_eq!((access.jti, access.role.as_str(), access.exp - access.iat), (None, "citizen", 86_400));
        assert_eq!(tokens.verify_access(&a.refresh).unwrap_err(), TokenError::Invalid, "refresh secret differs");
    }

    fn tokens_with(access: &str, refresh: &str) -> Tokens {
        let (access, refresh) = (access.to_string(), refresh.to_string());
        let config = Config::from_lookup(&|name| match name {
            "JWT_SECRET" => Some(access.clone()),
            "JWT_REFRESH_SECRET" => Some(refresh.clone()),
            "DATA_DIR" => Some(std::env::temp_dir().display().to_string()),
            _ => None,
        })
        .unwrap();
        Tokens::new(&config)
    }

    /// A token as issued before tokens named their kind: no `typ`.
    fn unmarked(secret: &str, user: &User) -> String {
        let now = chrono::Utc::now().timestamp() as u64;
        let claims =
            serde_json::json!({"id": user.id, "email": user.email, "role": "citizen", "iat": now, "exp": now + 600});
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .unwrap()
    }

    #[test]
    fn each_verifier_refuses_the_other_kind_even_with_one_secret() {
        let user = User::new("Ann".into(), "ann@example.com".into(), "x".into(), Role::Citizen);
        for tokens in [tokens_with("a", "b"), tokens_with("same", "same")] {
            let pair = tokens.issue(&user);
            assert_eq!(tokens.verify_access(&pair.access).unwrap().typ.as_deref(), Some("access"));
            assert_eq!(tokens.verify_refresh(&pair.refresh).unwrap().typ.as_deref(), Some("refresh"));
            assert_eq!(tokens.verify_access(&pair.refresh).unwrap_err(), TokenError::Invalid);
            assert_eq!(tokens.verify_refresh(&pair.access).unwrap_err(), TokenError::Invalid);
        }
    }

    #[test]
    fn tokens_without_a_kind_are_accepted_only_when_the_secret_tells_the_kind() {
        let user = User::new("Ann".into(), "ann@example.com".into(), "x".into(), Role::Citizen);
        let distinct = tokens_with("a", "b");
        assert!(distinct.verify_access(&unmarked("a", &user)).is_ok());
        assert!(distinct.verify_refresh(&unmarked("b", &user)).is_ok());
        assert_eq!(distinct.verify_access(&unmarked("b", &user)).unwrap_err(), TokenError::Invalid);
        let same = tokens_with("same", "same");
        assert_eq!(same.verify_access(&unmarked("same", &user)).unwrap_err(), TokenError::Invalid);
        assert_eq!(same.verify_refresh(&unmarked("same", &user)).unwrap_err(), TokenError::Invalid);
    }
}
