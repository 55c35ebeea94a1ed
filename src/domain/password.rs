//! Passwords as the API accepts them (docs/api.md 1.6): the original's two validators, a
//! length rule and a pattern rule (lowercase, uppercase and digit), each reported separately.

use std::fmt;

/// One broken rule. Its message names the field as the form labels it ("Password", "New
/// password").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    TooShort,
    NotMixed,
}

impl Problem {
    pub fn message(self, label: &str) -> String {
        match self {
            Problem::TooShort => format!("{label} must be at least 6 characters long"),
            Problem::NotMixed => {
                format!("{label} must contain at least one uppercase letter, one lowercase letter, and one number")
            }
        }
    }
}

/// A password that follows both rules. Never printed: `Debug` shows no characters.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Every broken rule, in the validators' order (length, then pattern).
    pub fn problems(raw: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        if !long_enough(raw) {
            out.push(Problem::TooShort);
        }
        if !mixed(raw) {
            out.push(Problem::NotMixed);
        }
        out
    }

    pub fn parse(raw: String) -> Result<Password, Vec<Problem>> {
        let problems = Password::problems(&raw);
        if problems.is_empty() { Ok(Password(raw)) } else { Err(problems) }
    }

    /// The plain text, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

pub fn long_enough(password: &str) -> bool {
    password.encode_utf16().count() >= 6
}

/// `/^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)/`: `.` stops at line terminators, so only the first
/// line counts.
pub fn mixed(password: &str) -> bool {
    let line = password.split(['\n', '\r', '\u{2028}', '\u{2029}']).next().unwrap_or("");
    line.chars().any(|c| c.is_ascii_lowercase())
        && line.chars().any(|c| c.is_ascii_uppercase())
        && line.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules() {
        assert!(super::long_enough("Abcde1") && super::mixed("Abcde1"));
        assert!(!super::long_enough("Ab1") && super::mixed("Ab1"));
        assert!(!super::mixed("abcdef1") && !super::mixed("ABCDEF1") && !super::mixed("Abcdefg"));
        assert!(!super::mixed("abc\nDEF1"), "the pattern does not look past a newline");
    }

    #[test]
    fn parse_reports_each_broken_rule_with_todays_messages() {
        use super::{Password, Problem};
        assert_eq!(Password::parse("Abcde1".into()).unwrap().expose(), "Abcde1");
        assert_eq!(Password::parse("ab".into()).unwrap_err(), [Problem::TooShort, Problem::NotMixed]);
        assert_eq!(Password::parse("abcdefg".into()).unwrap_err(), [Problem::NotMixed]);
        assert_eq!(Problem::TooShort.message("New password"), "New password must be at least 6 characters long");
        assert_eq!(
            Problem::NotMixed.message("Password"),
            "Password must contain at least one uppercase letter, one lowercase letter, and one number"
        );
        assert_eq!(format!("{:?}", Password::parse("Secret123".into()).unwrap()), "Password(..)");
    }
}
