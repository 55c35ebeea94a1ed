//! Success envelopes (docs/api.md 1.2) and the two pagination styles with `fields=` selection (1.5).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::cache::{Cached, Lookup, Policy};
use crate::domain::page::Page;
pub use crate::domain::page::{legacy_pagination, select_fields, wrapper_page, wrapper_pagination};
use crate::error::AppResult;
use crate::state::AppState;

/// `{success:true, message?, data?}` with a status.
pub struct Envelope {
    status: StatusCode,
    body: Map<String, Value>,
}

impl Envelope {
    pub fn ok() -> Envelope {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(true));
        Envelope { status: StatusCode::OK, body }
    }

    pub fn data(data: Value) -> Envelope {
        Envelope::ok().with_data(data)
    }

    pub fn message(message: impl Into<String>) -> Envelope {
        Envelope::ok().with_message(message)
    }

    pub fn created(self) -> Envelope {
        Envelope { status: StatusCode::CREATED, ..self }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Envelope {
        self.body.insert("message".into(), Value::String(message.into()));
        self
    }

    pub fn with_data(mut self, data: Value) -> Envelope {
        self.body.insert("data".into(), data);
        self
    }

    /// The body as JSON, for cached handlers (whose loaders return the whole body).
    pub fn into_json(self) -> Value {
        Value::Object(self.body)
    }

    /// Adds a top-level key beside `data` (the wrapper's `pagination` and `meta`).
    pub fn with(mut self, key: &str, value: Value) -> Envelope {
        self.body.insert(key.into(), value);
        self
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        (self.status, Json(Value::Object(self.body))).into_response()
    }
}

/// Serves a cached GET whose body is the success envelope of what `load` returns as `data`.
/// The handler's gates ran before (a hit never skips an access check).
pub async fn serve_data<F, Fut>(state: &AppState, policy: &Policy, lookup: Lookup<'_>, load: F) -> AppResult<Cached>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = AppResult<Value>>,
{
    state.cache.serve(policy, lookup, || async move { Ok(Envelope::data(load().await?).into_json()) }).await
}

/// The wrapper style (`withPagination`): `data` (the items, or an object holding them) with
/// top-level `pagination` and `meta`.
pub fn wrapped(data: Value, total: i64, page: Page) -> Envelope {
    let meta = wrapper_meta(&data);
    Envelope::data(data).with("pagination", wrapper_pagination(total, page)).with("meta", meta)
}

/// The wrapper's `meta`: when, and the character length of the serialized `data`.
pub fn wrapper_meta(data: &Value) -> Value {
    json!({"timestamp": crate::time::now_iso(), "responseSize": data.to_string().chars().count()})
}
