//! The middleware of every response (docs/api.md 1.1) as tower services that call the inner
//! service at once, in `call`. axum's `from_fn` middleware clones the whole service below it on
//! every request (its `Next` owns a copy), and a route's stack is cloned per request already:
//! a profile of the cached directory showed those clones, their drops and the header names
//! parsed per response among the top symbols (BENCHMARKS.md, issue 17).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{LazyLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::SharedString;

use super::rate_limit::RateLimiter;
use crate::error::AppError;

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// A layer that wraps a service in `$service { inner, ..fields }`.
macro_rules! layer {
    ($layer:ident => $service:ident { $($field:ident: $ty:ty),* }) => {
        #[derive(Clone)]
        pub struct $layer { $($field: $ty),* }

        #[derive(Clone)]
        pub struct $service<S> { inner: S, $($field: $ty),* }

        impl<S> tower::Layer<S> for $layer {
            type Service = $service<S>;
            fn layer(&self, inner: S) -> $service<S> {
                $service { inner, $($field: self.$field.clone()),* }
            }
        }
    };
}

/// Boilerplate of a service whose inner service is axum's (always ready, never failing).
macro_rules! inner_ready {
    () => {
        type Response = Response;
        type Error = Infallible;
        type Future = ResponseFuture;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            self.inner.poll_ready(cx)
        }
    };
}

layer!(SecurityHeadersLayer => SecurityHeaders { headers: &'static [(HeaderName, HeaderValue)] });

/// Helmet's defaults, with `Cross-Origin-Resource-Policy: cross-origin`, parsed once.
pub fn security_headers() -> SecurityHeadersLayer {
    static HEADERS: LazyLock<Vec<(HeaderName, HeaderValue)>> = LazyLock::new(|| {
        [
            (
                "content-security-policy",
                "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline'",
            ),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "cross-origin"),
            ("origin-agent-cluster", "?1"),
            ("referrer-policy", "no-referrer"),
            ("strict-transport-security", "max-age=15552000; includeSubDomains"),
            ("x-content-type-options", "nosniff"),
            ("x-dns-prefetch-control", "off"),
            ("x-download-options", "noopen"),
            ("x-frame-options", "SAMEORIGIN"),
            ("x-permitted-cross-domain-policies", "none"),
            ("x-xss-protection", "0"),
        ]
        .into_iter()
        .map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_static(value)))
        .collect()
    });
    SecurityHeadersLayer { headers: HEADERS.as_slice() }
}

impl<S> tower::Service<Request> for SecurityHeaders<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    inner_ready!();

    fn call(&mut self, req: Request) -> ResponseFuture {
        let headers = self.headers;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            let map = res.headers_mut();
            for (name, value) in headers {
                if !map.contains_key(name) {
                    map.insert(name.clone(), value.clone());
                }
            }
            Ok(res)
        })
    }
}

layer!(MetricsLayer => RecordMetrics {});

/// `http_requests_total` and `http_request_duration_seconds` by method, matched route, status.
pub fn record_metrics() -> MetricsLayer {
    MetricsLayer {}
}

/// The method's label: the standard methods by name, any other token as `OTHER`, because a
/// client may send any token as a method and each label is a series kept for the process's life.
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "HEAD" => "HEAD",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

fn status_label(status: StatusCode) -> SharedString {
    match status.as_u16() {
        200 => SharedString::const_str("200"),
        201 => SharedString::const_str("201"),
        304 => SharedString::const_str("304"),
        400 => SharedString::const_str("400"),
        401 => SharedString::const_str("401"),
        403 => SharedString::const_str("403"),
        404 => SharedString::const_str("404"),
        429 => SharedString::const_str("429"),
        other => SharedString::from(other.to_string()),
    }
}

impl<S> tower::Service<Request> for RecordMetrics<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    inner_ready!();

    fn call(&mut self, req: Request) -> ResponseFuture {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            let (requests, duration) = series(method, route, res.status());
            requests.increment(1);
            duration.record(start.elapsed().as_secs_f64());
            Ok(res)
        })
    }
}

/// The request counter and latency histogram of one method, route and status.
type Series = (metrics::Counter, metrics::Histogram);

/// The series of one route, by method and status.
type RouteSeries = Vec<(&'static str, StatusCode, Series)>;

/// The handles of every series seen, by route: looking one up is a hash of the route and a
/// short scan, where the recorder would build and hash a labelled key per call.
static SERIES: LazyLock<RwLock<HashMap<Box<str>, RouteSeries>>> = LazyLock::new(Default::default);

fn series(method: &'static str, route: &str, status: StatusCode) -> Series {
    let find = |by_route: &HashMap<Box<str>, RouteSeries>| {
        by_route.get(route)?.iter().find(|(m, s, _)| *m == method && *s == status).map(|(_, _, h)| h.clone())
    };
    if let Some(found) = find(&SERIES.read().unwrap_or_else(|p| p.into_inner())) {
        return found;
    }
    let labels = [
        ("method", SharedString::const_str(method)),
        ("route", SharedString::from(route.to_string())),
        ("status", status_label(status)),
    ];
    let handles = (
        metrics::counter!("http_requests_total", &labels),
        metrics::histogram!("http_request_duration_seconds", &labels),
    );
    let mut by_route = SERIES.write().unwrap_or_else(|p| p.into_inner());
    by_route.entry(route.into()).or_default().push((method, status, handles.clone()));
    handles
}

layer!(RateLimitLayer => RateLimit { limiter: RateLimiter, policy: HeaderValue });

// Named once: a header name given as a string is parsed on every insert.
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The global per-IP limit on `/api/*`: one limiter per router, so one per process.
pub fn rate_limit(limiter: RateLimiter) -> RateLimitLayer {
    let (limit, window) = limiter.policy();
    let policy = HeaderValue::from_str(&format!("{limit};w={window}")).expect("digits");
    RateLimitLayer { limiter, policy }
}

impl<S> tower::Service<Request> for RateLimit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    inner_ready!();

    fn call(&mut self, req: Request) -> ResponseFuture {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let decision = self.limiter.check(ip);
        let policy = self.policy.clone();
        let fut = decision.allowed.then(|| self.inner.call(req));
        Box::pin(async move {
            let mut res = match fut {
                Some(fut) => fut.await?,
                None => AppError::too_many("Too many requests from this IP, please try again later.").into_response(),
            };
            let h = res.headers_mut();
            h.insert(RATELIMIT_POLICY, policy);
            h.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
            h.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
            h.insert(RATELIMIT_RESET, HeaderValue::from(decision.reset_secs));
            if !decision.allowed {
                h.insert(header::RETRY_AFTER, HeaderValue::from(decision.reset_secs));
            }
            Ok(res)
        })
    }
}

/// `x-no-compression` on the request turns compression off for its response.
pub fn honour_no_compression(mut req: Request) -> Request {
    if req.headers().contains_key("x-no-compression") {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    req
}
