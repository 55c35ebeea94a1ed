//! Email addresses as accounts hold them. Validation and normalization are exactly the
//! original's validators (validator.js 13.12 `isEmail` and `normalizeEmail` with default
//! options), so that accounts created by the original keep matching; the stored form must also
//! match the original User model's pattern.

use std::fmt;
use std::sync::LazyLock;

/// The message of every refusal, as the original's validator and model gave it.
pub const INVALID: &str = "Please provide a valid email";

/// The stored form of an address: normalized, then held to the model's pattern. Accounts are
/// looked up and stored by it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalizes `raw` and checks the model's pattern; the error is [`INVALID`].
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        normalize(raw).filter(|e| matches_model(e)).map(Email).ok_or(INVALID)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// validator.js 13.12 `icloud_domains`.
const ICLOUD: &[&str] = &["icloud.com", "me.com"];

/// validator.js 13.12 `outlookdotcom_domains`.
#[rustfmt::skip]
const OUTLOOK: &[&str] = &[
    "hotmail.at", "hotmail.be", "hotmail.ca", "hotmail.cl", "hotmail.co.il", "hotmail.co.nz", "hotmail.co.th",
    "hotmail.co.uk", "hotmail.com", "hotmail.com.ar", "hotmail.com.au", "hotmail.com.br", "hotmail.com.gr",
    "hotmail.com.mx", "hotmail.com.pe", "hotmail.com.tr", "hotmail.com.vn", "hotmail.cz", "hotmail.de",
    "hotmail.dk", "hotmail.es", "hotmail.fr", "hotmail.hu", "hotmail.id", "hotmail.ie", "hotmail.in",
    "hotmail.it", "hotmail.jp", "hotmail.kr", "hotmail.lv", "hotmail.my", "hotmail.ph", "hotmail.pt",
    "hotmail.sa", "hotmail.sg", "hotmail.sk", "live.be", "live.co.uk", "live.com", "live.com.ar", "live.com.mx",
    "live.de", "live.es", "live.eu", "live.fr", "live.it", "live.nl", "msn.com", "outlook.at", "outlook.be",
    "outlook.cl", "outlook.co.il", "outlook.co.nz", "outlook.co.th", "outlook.com", "outlook.com.ar",
    "outlook.com.au", "outlook.com.br", "outlook.com.gr", "outlook.com.pe", "outlook.com.tr", "outlook.com.vn",
    "outlook.cz", "outlook.de", "outlook.dk", "outlook.es", "outlook.fr", "outlook.hu", "outlook.id",
    "outlook.ie", "outlook.in", "outlook.it", "outlook.jp", "outlook.kr", "outlook.lv", "outlook.my",
    "outlook.ph", "outlook.pt", "outlook.sa", "outlook.sg", "outlook.sk", "passport.com",
];

/// validator.js 13.12 `yahoo_domains`.
const YAHOO: &[&str] = &[
    "rocketmail.com",
    "yahoo.ca",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yahoo.in",
    "yahoo.it",
    "ymail.com",
];

/// validator.js 13.12 `yandex_domains`; all of them normalize to the first.
const YANDEX: &[&str] = &["yandex.ru", "yandex.ua", "yandex.kz", "yandex.com", "yandex.by", "ya.ru"];

/// `normalizeEmail` with default options. `None` where validator.js returns `false` (the
/// local part became empty, e.g. `+tag@gmail.com`).
pub fn normalize(email: &str) -> Option<String> {
    let (user, domain) = email.rsplit_once('@')?;
    let mut domain = domain.to_lowercase();
    let user = if domain == "gmail.com" || domain == "googlemail.com" {
        let local = remove_single_dots(before(user, '+'));
        domain = "gmail.com".into();
        non_empty(local)?.to_lowercase()
    } else if ICLOUD.contains(&domain.as_str()) || OUTLOOK.contains(&domain.as_str()) {
        non_empty(before(user, '+').to_string())?.to_lowercase()
    } else if YAHOO.contains(&domain.as_str()) {
        let local = match user.rsplit_once('-') {
            Some((head, _)) => head,
            None => user,
        };
        non_empty(local.to_string())?.to_lowercase()
    } else if YANDEX.contains(&domain.as_str()) {
        domain = "yandex.ru".into();
        user.to_lowercase()
    } else {
        user.to_lowercase()
    };
    Some(format!("{user}@{domain}"))
}

fn before(s: &str, sep: char) -> &str {
    s.split(sep).next().unwrap_or("")
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Removes single dots but keeps runs of two or more (Gmail ignores only single dots).
fn remove_single_dots(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '.' {
            out.push(c);
            continue;
        }
        let mut run = 1;
        while chars.next_if_eq(&'.').is_some() {
            run += 1;
        }
        if run > 1 {
            out.extend(std::iter::repeat_n('.', run));
        }
    }
    out
}

/// The User model's pattern (`^[\w-.]+@([\w-]+\.)+[\w-]{2,4}$`, ASCII `\w`), applied to
/// the normalized address.
pub fn matches_model(email: &str) -> bool {
    static MODEL: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[A-Za-z0-9_.-]+@([A-Za-z0-9_-]+\.)+[A-Za-z0-9_-]{2,4}$").expect("model email pattern")
    });
    MODEL.is_match(email)
}

/// `isEmail` with default options (no display name, TLD required, UTF-8 local part
/// allowed, no IP domains, length limits enforced).
pub fn is_email(s: &str) -> bool {
    if utf16_len(s) > 254 {
        return false;
    }
    let Some((user, domain)) = s.rsplit_once('@') else { return false };
    if user.len() > 64 || domain.len() > 254 || !is_fqdn(domain) {
        return false;
    }
    if let Some(quoted) = user.strip_prefix('"') {
        // validator.js drops the last character whatever it is.
        let mut inner: Vec<char> = quoted.chars().collect();
        inner.pop();
        return quoted_local_ok(&inner);
    }
    user.split('.').all(|part| !part.is_empty() && part.chars().all(local_char))
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The non-ASCII ranges validator.js's patterns accept (`from`-U+D7FF, U+F900-U+FDCF,
/// U+FDF0-U+FFEF): no surrogates, no non-characters.
fn high(c: char, from: char) -> bool {
    (from..='\u{D7FF}').contains(&c) || matches!(c, '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFEF}')
}

fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || high(c, '\u{00A1}')
}

fn quoted_local_ok(chars: &[char]) -> bool {
    let plain = |c: char| {
        js_space(c)
            || matches!(c, '\x01'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f' | '\x7f' | '\x21')
            || matches!(c, '\x23'..='\x5b' | '\x5d'..='\x7e')
            || high(c, '\u{00A0}')
    };
    let escapable = |c: char| matches!(c, '\x01'..='\x09' | '\x0b' | '\x0c' | '\x0d'..='\x7f') || high(c, '\u{00A0}');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // Like the regex's alternation: a plain character first, else an escape pair.
        if plain(c) {
            i += 1;
        } else if c == '\\' && chars.get(i + 1).is_some_and(|n| escapable(*n)) {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// JavaScript's `\s`.
fn js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// `isFQDN` with the options `isEmail` passes (TLD required, no underscores).
fn is_fqdn(domain: &str) -> bool {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if parts.len() < 2 {
        return false;
    }
    let tld_letters = |c: char| c.is_ascii_alphabetic() || (high(c, '\u{00A1}') && c != '\u{00A9}');
    let lower_tld = tld.to_ascii_lowercase();
    let punycode = lower_tld.strip_prefix("xn").is_some_and(|rest| {
        rest.chars().count() >= 2 && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    let letters = tld.chars().count() >= 2 && tld.chars().all(tld_letters);
    if !(letters || punycode) || tld.chars().any(js_space) {
        return false;
    }
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    parts.iter().all(|part| {
        utf16_len(part) <= 63
            && !part.is_empty()
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c >= '\u{00A1}')
            && !part.chars().any(|c| matches!(c, '\u{FF01}'..='\u{FF5E}'))
            && !part.starts_with('-')
            && !part.ends_with('-')
            && !part.contains('_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_drops_single_dots_and_subaddress_and_unifies_the_domain() {
        assert_eq!(normalize("John.Doe+news@GoogleMail.com").as_deref(), Some("johndoe@gmail.com"));
        assert_eq!(normalize("a.b.c@gmail.com").as_deref(), Some("abc@gmail.com"));
        assert_eq!(normalize("multiple..dots@gmail.com").as_deref(), Some("multiple..dots@gmail.com"));
        assert_eq!(normalize("x...y.z.@gmail.com").as_deref(), Some("x...yz@gmail.com"));
        assert_eq!(normalize("+only@gmail.com"), None);
        assert_eq!(normalize(".@gmail.com"), None);
    }

    #[test]
    fn outlook_and_icloud_drop_plus_tags_only() {
        assert_eq!(normalize("Jane.Roe+x@Hotmail.co.uk").as_deref(), Some("jane.roe@hotmail.co.uk"));
        assert_eq!(normalize("a+b+c@live.com").as_deref(), Some("a@live.com"));
        assert_eq!(normalize("a.b+c@msn.com").as_deref(), Some("a.b@msn.com"));
        assert_eq!(normalize("Me+tag@iCloud.com").as_deref(), Some("me@icloud.com"));
        assert_eq!(normalize("me+tag@me.com").as_deref(), Some("me@me.com"));
        // mac.com is not in validator 13.12's iCloud list.
        assert_eq!(normalize("Me+tag@mac.com").as_deref(), Some("me+tag@mac.com"));
        assert_eq!(normalize("a-b@outlook.com").as_deref(), Some("a-b@outlook.com"));
    }

    #[test]
    fn yahoo_drops_the_last_dash_tag() {
        assert_eq!(normalize("John-Doe-news@Yahoo.com").as_deref(), Some("john-doe@yahoo.com"));
        assert_eq!(normalize("plain@ymail.com").as_deref(), Some("plain@ymail.com"));
        assert_eq!(normalize("a+b@rocketmail.com").as_deref(), Some("a+b@rocketmail.com"));
        assert_eq!(normalize("-tag@yahoo.com"), None);
    }

    #[test]
    fn yandex_domains_become_yandex_ru() {
        assert_eq!(normalize("Ivan.P+x@Ya.ru").as_deref(), Some("ivan.p+x@yandex.ru"));
        assert_eq!(normalize("ivan@yandex.com").as_deref(), Some("ivan@yandex.ru"));
    }

    #[test]
    fn other_domains_are_only_lowercased() {
        assert_eq!(normalize("First.Last+Tag@Example.COM").as_deref(), Some("first.last+tag@example.com"));
        assert_eq!(normalize("\"Odd@Local\"@Example.com").as_deref(), Some("\"odd@local\"@example.com"));
    }

    #[test]
    fn is_email_follows_validator_defaults() {
        for ok in [
            "a@b.co",
            "first.last@sub.example.org",
            "x+y@example.com",
            "o'hara@example.ie",
            "\"quoted local\"@example.com",
            "ü@exämple.de",
            "a@b.xn--p1ai",
        ] {
            assert!(is_email(ok), "{ok} should be an email");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "a@b.c",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@-b.com",
            "a@b_c.com",
            "a@b.123",
            "a b@example.com",
            "a@b@c.com",
            "Name <a@b.com>",
            "a@[127.0.0.1]",
        ] {
            assert!(!is_email(bad), "{bad} should not be an email");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(!is_email(&long_local));
    }

    #[test]
    fn parse_gives_the_stored_form_or_the_validators_message() {
        assert_eq!(Email::parse("John.Doe+x@GMail.com").unwrap().as_str(), "johndoe@gmail.com");
        assert_eq!(Email::parse("Ana@Example.COM").unwrap().as_str(), "ana@example.com");
        assert_eq!(Email::parse("a+b@example.com"), Err(INVALID), "the model pattern has no plus");
        assert_eq!(Email::parse("a@example.museum"), Err(INVALID));
        assert_eq!(Email::parse("+x@gmail.com"), Err(INVALID));
        assert_eq!(Email::parse("plain"), Err(INVALID));
    }

    #[test]
    fn model_pattern_requires_a_short_ascii_tld() {
        assert!(matches_model("a.b-c_d@mail.example.com"));
        assert!(!matches_model("a@example.museum"));
        assert!(!matches_model("a+b@example.com"));
        assert!(!matches_model("ü@example.com"));
    }
}
