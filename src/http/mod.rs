//! The public HTTP interface: one module per resource, the middleware stack of docs/api.md 1.1.

pub mod edge;
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

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
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

/// The public HTTP service. The layers every request passes (request id, trace, CORS, security
/// headers, Socket.IO, compression) wrap the router once; only what needs the matched route
/// (metrics, the `/api` rate limit, the body limit) sits on the routes, because axum clones a
/// route's whole layer stack on every request (BENCHMARKS.md, issue 17).
pub fn router(
    state: AppState,
    realtime: &Realtime,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
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
        .layer(edge::rate_limit(rate_limit::RateLimiter::new(
            state.config.rate_limit_window,
            state.config.rate_limit_max,
        )));

    let routes = Router::new()
        .nest("/api", api)
        .merge(docs::routes())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(edge::record_metrics());
    let compressed = ServiceBuilder::new()
        .map_response(|res: Response<_>| res.map(Body::new))
        .layer(MapRequestLayer::new(edge::honour_no_compression))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))))
        .service(routes);
    // Socket.IO (`/socket.io/`) sits outside the body limit, metrics and compression, inside CORS.
    ServiceBuilder::new()
        .map_response(|res: Response<_>| res.map(Body::new))
        .layer(SetRequestIdLayer::new(HeaderName::from_static("x-request-id"), RandomRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static("x-request-id")))
        .layer(cors())
        .layer(edge::security_headers())
        .service(realtime.mount(compressed))
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
