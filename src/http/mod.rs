//! The public HTTP interface: one module per resource, the middleware stack of docs/api.md 1.1.

pub mod extract;
pub mod health;
pub mod rate_limit;
pub mod respond;

pub mod admin;
pub mod auth;
pub mod cases;
pub mod chats;
pub mod connections;
pub mod consultations;
pub mod docs;
pub mod documents;
pub mod jobs;
pub mod lawyers;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::realtime::Realtime;
use crate::state::AppState;

/// JSON and urlencoded bodies: 10 MB (413 beyond).
pub const JSON_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub fn router(state: AppState, realtime: &Realtime) -> Router {
    let api = Router::new()
        .nest("/auth", auth::routes())
        .nest("/admin", admin::routes().nest("/jobs", jobs::routes()))
        .nest("/lawyers", lawyers::routes().merge(cases::lawyer_routes()).merge(connections::lawyer_routes()))
        .nest(
            "/citizens",
            cases::citizen_routes().merge(connections::citizen_routes()).merge(lawyers::citizen_routes()),
        )
        .nest("/queries", cases::queries::routes())
        .nest("/disputes", cases::disputes::routes())
        .nest("/chats", chats::routes().merge(documents::chat_file_routes()))
        .nest("/documents", documents::routes())
        .nest("/consultations", consultations::routes())
        .merge(health::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            rate_limit::RateLimiter::new(state.config.rate_limit_window, state.config.rate_limit_max),
            rate_limit,
        ));

    let app = Router::new()
        .nest("/api", api)
        .merge(docs::routes())
        .fallback(not_found)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(honour_no_compression))
                .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(1024)))),
        );
    // Socket.IO (`/socket.io/`) sits outside the body limit, metrics and compression, inside CORS.
    realtime.mount(app).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(HeaderName::from_static("x-request-id"), RandomRequestId))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            }))
            .layer(PropagateRequestIdLayer::new(HeaderName::from_static("x-request-id")))
            .layer(cors())
            .layer(security_headers()),
    )
}

async fn not_found() -> AppError {
    AppError::not_found("Route not found")
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::ids::random_hex(12)).ok().map(RequestId::new)
    }
}

/// Any origin is reflected with credentials, as the original's CORS setup does.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("x-auth-token"),
            header::ACCEPT,
            header::ORIGIN,
        ])
        .max_age(Duration::from_secs(86_400))
}

/// Helmet's defaults, with `Cross-Origin-Resource-Policy: cross-origin`.
fn security_headers() -> SecurityHeadersLayer {
    const HEADERS: &[(&str, &str)] = &[
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
    ];
    SecurityHeadersLayer(HEADERS)
}

#[derive(Clone, Copy)]
struct SecurityHeadersLayer(&'static [(&'static str, &'static str)]);

impl<S: Clone> tower::Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;
    fn layer(&self, inner: S) -> SecurityHeaders<S> {
        SecurityHeaders { inner, headers: self.0 }
    }
}

#[derive(Clone)]
struct SecurityHeaders<S> {
    inner: S,
    headers: &'static [(&'static str, &'static str)],
}

impl<S> tower::Service<Request> for SecurityHeaders<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let headers = self.headers;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            for (name, value) in headers {
                res.headers_mut().entry(*name).or_insert(HeaderValue::from_static(value));
            }
            Ok(res)
        })
    }
}

/// `x-no-compression` on the request turns compression off for its response.
async fn honour_no_compression(mut req: Request, next: Next) -> Response {
    if req.headers().contains_key("x-no-compression") {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    next.run(req).await
}

/// `http_requests_total` and `http_request_duration_seconds` by method, matched route, status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let res = next.run(req).await;
    let labels = [("method", method), ("route", route), ("status", res.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    res
}

/// The global per-IP limit on `/api/*`: one limiter per router, so one per process.
async fn rate_limit(State(limiter): State<rate_limit::RateLimiter>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let decision = limiter.check(ip);
    let mut res = if decision.allowed {
        next.run(req).await
    } else {
        AppError::too_many("Too many requests from this IP, please try again later.").into_response()
    };
    let h = res.headers_mut();
    let num = |n: u64| HeaderValue::from_str(&n.to_string()).expect("digits");
    h.insert(
        "ratelimit-policy",
        HeaderValue::from_str(&format!("{};w={}", decision.limit, decision.window_secs)).expect("ascii"),
    );
    h.insert("ratelimit-limit", num(decision.limit));
    h.insert("ratelimit-remaining", num(decision.remaining));
    h.insert("ratelimit-reset", num(decision.reset_secs));
    if !decision.allowed {
        h.insert(header::RETRY_AFTER, num(decision.reset_secs));
        debug_assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    res
}
