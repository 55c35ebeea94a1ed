//! Input validation with express-validator's error shape (docs/api.md 1.4): every rule of a field
//! runs and each failure adds an entry, so clients see all problems at once. Used by HTTP and
//! Socket.IO handlers alike.

use serde_json::Value;

use crate::error::{AppError, AppResult, FieldError};

/// A request body (an HTTP JSON document or a Socket.IO payload) read into a typed value. Every
/// rule of the API runs on the document and all failures come back at once in the validation
/// shape (docs/api.md 1.4); what passes is moved into the struct, so handlers and services never
/// pick fields out of JSON. HTTP handlers take it through the `Body<T>` extractor, Socket.IO
/// handlers call `from_body` on the payload: one set of rules for both.
pub trait FromBody: Sized {
    fn from_body(body: &Value) -> AppResult<Self>;
}

/// The text of a field (dotted paths reach into objects); numbers count as their text, like
/// express-validator's string rules.
pub fn text(body: &Value, path: &str) -> Option<String> {
    match lookup(body, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A finite number, or text that parses as one.
pub fn number(body: &Value, path: &str) -> Option<f64> {
    lookup(body, path).and_then(number_of)
}

/// A finite number, or text that parses as one.
pub fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// Names whose values are never echoed back in validation errors.
const SECRET_FIELDS: &[&str] = &["password", "newPassword", "confirmPassword", "currentPassword"];

pub struct Validator<'a> {
    source: &'a Value,
    location: &'static str,
    errors: Vec<FieldError>,
}

/// Resolves a dotted path (`lawyerDetails.experience`) inside a JSON document.
pub fn lookup<'a>(source: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(source, |v, key| v.get(key)).filter(|v| !v.is_null())
}

impl<'a> Validator<'a> {
    pub fn body(source: &'a Value) -> Validator<'a> {
        Validator { source, location: "body", errors: Vec::new() }
    }

    pub fn query(source: &'a Value) -> Validator<'a> {
        Validator { source, location: "query", errors: Vec::new() }
    }

    pub fn field<'v>(&'v mut self, path: &str) -> Field<'v, 'a> {
        let value = lookup(self.source, path);
        Field { validator: self, path: path.to_string(), value, skip: false }
    }

    pub fn add(&mut self, path: &str, value: Option<&Value>, msg: impl Into<String>) {
        let secret = SECRET_FIELDS.contains(&path);
        self.errors.push(FieldError {
            kind: "field",
            value: if secret { None } else { Some(value.cloned().unwrap_or(Value::Null)) },
            msg: msg.into(),
            path: path.to_string(),
            location: self.location,
        });
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() { Ok(()) } else { Err(AppError::validation(self.errors)) }
    }
}

/// The rules of one field. A rule that fails records an error and the chain goes on.
pub struct Field<'v, 'a> {
    validator: &'v mut Validator<'a>,
    path: String,
    value: Option<&'a Value>,
    skip: bool,
}

impl<'v, 'a> Field<'v, 'a> {
    fn fail(&mut self, msg: &str) {
        if !self.skip {
            self.validator.add(&self.path, self.value, msg);
        }
    }

    fn string(&self) -> Option<&'a str> {
        self.value.and_then(Value::as_str)
    }

    /// Skips every following rule when the key is absent (null counts as absent).
    pub fn optional(mut self) -> Self {
        self.skip |= self.value.is_none();
        self
    }

    /// Skips every following rule when the value is falsy ("", 0, false, null, absent).
    pub fn optional_falsy(mut self) -> Self {
        self.skip |= match self.value {
            None => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Bool(b)) => !b,
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            _ => false,
        };
        self
    }

    /// Present and not blank.
    pub fn required(mut self, msg: &str) -> Self {
        let ok = match self.value {
            None => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
        };
        if !ok {
            self.fail(msg);
        }
        self
    }

    /// A string (numbers are accepted as their text, like express-validator).
    pub fn is_string(mut self, msg: &str) -> Self {
        if self.value.is_some_and(|v| !(v.is_string() || v.is_number())) {
            self.fail(msg);
        }
        self
    }

    /// Character length of the trimmed string within `min..=max`.
    pub fn length(mut self, min: usize, max: Option<usize>, msg: &str) -> Self {
        let len = self.text().map(|s| s.trim().chars().count()).unwrap_or(0);
        if len < min || max.is_some_and(|m| len > m) {
            self.fail(msg);
        }
        self
    }

    /// Text of a string or number value.
    fn text(&self) -> Option<String> {
        match self.value {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn one_of(mut self, allowed: &[&str], msg: &str) -> Self {
        if !self.string().is_some_and(|s| allowed.contains(&s)) {
            self.fail(msg);
        }
        self
    }

    /// An integer (or integer text) within `min..=max`.
    pub fn int_range(mut self, min: i64, max: i64, msg: &str) -> Self {
        let n = match self.value {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if !n.is_some_and(|n| (min..=max).contains(&n)) {
            self.fail(msg);
        }
        self
    }

    /// A number (or numeric text) at least `min`.
    pub fn number_min(mut self, min: f64, msg: &str) -> Self {
        let n = match self.value {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        if !n.is_some_and(|n| n >= min && n.is_finite()) {
            self.fail(msg);
        }
        self
    }

    pub fn matches(mut self, re: &regex::Regex, msg: &str) -> Self {
        if !self.text().is_some_and(|s| re.is_match(&s)) {
            self.fail(msg);
        }
        self
    }

    pub fn array_min(mut self, min: usize, msg: &str) -> Self {
        if self.value.and_then(Value::as_array).is_none_or(|a| a.len() < min) {
            self.fail(msg);
        }
        self
    }

    pub fn boolean(mut self, msg: &str) -> Self {
        if !self.value.is_some_and(Value::is_boolean) {
            self.fail(msg);
        }
        self
    }

    pub fn object(mut self, msg: &str) -> Self {
        if !self.value.is_some_and(Value::is_object) {
            self.fail(msg);
        }
        self
    }

    /// Any other rule, computed by the caller from the value.
    pub fn check(mut self, ok: impl FnOnce(Option<&Value>) -> bool, msg: &str) -> Self {
        if !self.skip && !ok(self.value) {
            self.fail(msg);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_failure_and_redacts_secrets() {
        let body = json!({"name": "a", "password": "x", "lawyerDetails": {"experience": 70}});
        let mut v = Validator::body(&body);
        v.field("name").required("Name is required").length(2, Some(50), "Name must be between 2 and 50 characters");
        v.field("password").length(6, None, "Password must be at least 6 characters long");
        v.field("lawyerDetails.experience").optional().int_range(0, 50, "Experience must be between 0 and 50 years");
        v.field("phone").optional().matches(&regex::Regex::new(r"^\d{10}$").unwrap(), "bad phone");
        let err = v.finish().unwrap_err();
        let errors = err.errors.unwrap();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[1].path, "password");
        assert!(errors[1].value.is_none(), "password must not be echoed");
        assert_eq!(errors[2].path, "lawyerDetails.experience");
    }
}
