//! Success envelopes (docs/api.md 1.2) and the two pagination styles with `fields=` selection (1.5).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::extract::{Page, Params};
use crate::app::AppState;
use crate::cache::{Cached, Lookup, Policy};
use crate::error::AppResult;

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

/// The wrapper style's query (`page` 1..=MAX_PAGE, `limit` 1..=100 default 20).
pub fn wrapper_page(params: &Params) -> AppResult<Page> {
    params.page(20)
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

pub fn wrapper_pagination(total: i64, page: Page) -> Value {
    let total_pages = page.pages(total);
    json!({
        "currentPage": page.page,
        "totalPages": total_pages,
        "totalItems": total,
        "itemsPerPage": page.limit,
        "hasNextPage": page.page < total_pages,
        "hasPrevPage": page.page > 1,
        "nextPage": if page.page < total_pages { json!(page.page + 1) } else { Value::Null },
        "prevPage": if page.page > 1 { json!(page.page - 1) } else { Value::Null },
    })
}

/// The most common legacy shape: `{current, pages, total}`.
pub fn legacy_pagination(total: i64, page: Page) -> Value {
    json!({"current": page.page, "pages": page.pages(total), "total": total})
}

/// Applies `fields=` to one item: the requested names that survive the route's allow-list,
/// plus `_id`. With nothing requested (or nothing surviving) the item is returned whole.
pub fn select_fields(item: Value, params: &Params, allow: &[&str]) -> Value {
    let requested: Vec<&str> = match params.get("fields") {
        None => return item,
        Some(raw) => raw.split(',').map(str::trim).filter(|f| allow.contains(f)).collect(),
    };
    if requested.is_empty() {
        return item;
    }
    let mut out = Map::new();
    if let Some(id) = item.get("_id") {
        out.insert("_id".into(), id.clone());
    }
    for path in requested {
        let mut keys = path.split('.');
        let Some(first) = keys.next() else { continue };
        let rest: Vec<&str> = keys.collect();
        let Some(value) = item.get(first) else { continue };
        if rest.is_empty() {
            out.insert(first.into(), value.clone());
            continue;
        }
        let Some(inner) = rest.iter().try_fold(value, |v, k| v.get(*k)) else { continue };
        let mut slot = out.entry(first.to_string()).or_insert_with(|| json!({}));
        for (i, k) in rest.iter().enumerate() {
            if i + 1 == rest.len() {
                slot[*k] = inner.clone();
            } else {
                slot = slot.as_object_mut().expect("object").entry(k.to_string()).or_insert_with(|| json!({}));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>())
    }

    #[test]
    fn wrapper_pagination_edges() {
        let p = wrapper_pagination(93, Page { page: 2, limit: 20 });
        assert_eq!(p["totalPages"], 5);
        assert_eq!(p["nextPage"], 3);
        assert_eq!(p["prevPage"], 1);
        let empty = wrapper_pagination(0, Page { page: 1, limit: 20 });
        assert_eq!(empty["totalPages"], 0);
        assert!(empty["nextPage"].is_null() && empty["prevPage"].is_null());
    }

    #[test]
    fn limit_is_clamped() {
        assert_eq!(params(&[("limit", "500")]).page(20).unwrap().limit, 100);
        assert_eq!(params(&[("limit", "0")]).page(20).unwrap().limit, 20);
        assert_eq!(params(&[("limit", "abc"), ("page", "-3")]).page(20).unwrap(), Page { page: 1, limit: 20 });
        assert_eq!(params(&[("limit", "7")]).limit(10), 7);
    }

    #[test]
    fn fields_select_allowed_nested_paths() {
        let item = json!({"_id": "x", "name": "A", "email": "a@b.c", "lawyerDetails": {"experience": 3, "bio": "b"}});
        let allow = ["name", "lawyerDetails.experience"];
        let out = select_fields(item.clone(), &params(&[("fields", "name, lawyerDetails.experience,password")]), &allow);
        assert_eq!(out, json!({"_id": "x", "name": "A", "lawyerDetails": {"experience": 3}}));
        assert_eq!(select_fields(item.clone(), &params(&[("fields", "password")]), &allow), item);
    }
}
