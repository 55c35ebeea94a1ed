//! Query parameters and pagination: how a list reads `page`, `limit`, filters and `fields=`,
//! and the two pagination shapes of docs/api.md 1.5. Shared by HTTP handlers, services, stores
//! and the cache's keys, so it lives below all of them.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::{AppError, AppResult, FieldError};
use crate::ids::Id;

/// `application/x-www-form-urlencoded` pairs, percent-decoded (`+` is a space).
pub fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(bytes)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Query parameters as strings; the last value of a repeated key wins.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// The parameters of a query string.
    pub fn from_query(query: &str) -> Params {
        Params(form_urlencoded_pairs(query.as_bytes()).into_iter().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A filter value, with the "match everything" spellings (`all`, `undefined`) treated as absent.
    pub fn filter(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !matches!(*v, "all" | "undefined" | "null"))
    }

    /// The `page` and `limit` of every paginated list (both styles of docs/api.md 1.5): `limit`
    /// defaults to `default_limit` and is clamped to 1..=[`MAX_LIMIT`]; a `page` below 1 or not
    /// a number reads as 1, as in the original. A page above [`MAX_PAGE`] (however many digits)
    /// is a 400 in the validation shape: no list is that long, and its offset must stay a
    /// number every database accepts.
    pub fn page(&self, default_limit: i64) -> Result<Page, AppError> {
        Ok(Page { page: page_number(self.get("page"))?, limit: self.limit(default_limit) })
    }

    /// The `limit` alone, for lists of one page: `default_limit` unless a number of at least 1
    /// is given, at most [`MAX_LIMIT`].
    pub fn limit(&self, default_limit: i64) -> i64 {
        self.get("limit")
            .and_then(|l| l.parse::<i64>().ok())
            .filter(|l| *l >= 1)
            .unwrap_or(default_limit)
            .min(MAX_LIMIT)
    }
}

/// The largest `page` a list serves (1,000,000 pages of [`MAX_LIMIT`] items).
pub const MAX_PAGE: i64 = 1_000_000;
/// The largest `limit` of a list.
pub const MAX_LIMIT: i64 = 100;

/// The page a `page` parameter asks for (see [`Params::page`]); the cache keys pages by it.
pub fn page_number(raw: Option<&str>) -> Result<i64, AppError> {
    match raw.map(|p| (p, p.trim().parse::<i64>())) {
        Some((_, Ok(p))) if p > MAX_PAGE => Err(page_out_of_range(raw)),
        Some((_, Ok(p))) => Ok(p.max(1)),
        // Only digits, yet no i64: far beyond the bound.
        Some((p, Err(_))) if is_unsigned_integer(p.trim().strip_prefix('+').unwrap_or(p.trim())) => {
            Err(page_out_of_range(raw))
        }
        _ => Ok(1),
    }
}

fn is_unsigned_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn page_out_of_range(raw: Option<&str>) -> AppError {
    AppError::validation(vec![FieldError {
        kind: "field",
        value: raw.map(|r| Value::String(r.to_string())),
        msg: format!("Page must be an integer from 1 to {MAX_PAGE}"),
        path: "page".into(),
        location: "query",
    }])
}

/// `page` and `limit` of a paginated list as parsed from the query; the OpenAPI parameters of
/// every paginated route are generated from this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Page, from 1 (default 1) to 1000000; a larger page is a 400 (validation error on `page`).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    pub page: i64,
    /// Items per page, 1..100 (each route's description gives its default).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: i64,
}

impl Page {
    /// Items before this page; at most `(MAX_PAGE - 1) * MAX_LIMIT` for a parsed page.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.limit)
    }
    pub fn pages(&self, total: i64) -> i64 {
        (total + self.limit - 1) / self.limit
    }
}

/// Parses a path id; malformed ids are a 400, never a 500.
pub fn parse_id(raw: &str, what: &str) -> Result<Id, AppError> {
    raw.parse().map_err(|_| AppError::bad_request(format!("Invalid {what} ID format")))
}

/// The wrapper style's query (`page` 1..=MAX_PAGE, `limit` 1..=100 default 20).
pub fn wrapper_page(params: &Params) -> AppResult<Page> {
    params.page(20)
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
    json!(LegacyPagination::of(total, page))
}

/// [`legacy_pagination`] as a view struct, for typed list replies.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct LegacyPagination {
    pub current: i64,
    pub pages: i64,
    pub total: i64,
}

impl LegacyPagination {
    pub fn of(total: i64, page: Page) -> LegacyPagination {
        LegacyPagination { current: page.page, pages: page.pages(total), total }
    }
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
        let out =
            select_fields(item.clone(), &params(&[("fields", "name, lawyerDetails.experience,password")]), &allow);
        assert_eq!(out, json!({"_id": "x", "name": "A", "lawyerDetails": {"experience": 3}}));
        assert_eq!(select_fields(item.clone(), &params(&[("fields", "password")]), &allow), item);
    }
}
