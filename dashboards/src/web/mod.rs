//! The HTTP surface: routes, the error → status mapping (in one place), security headers,
//! static assets and metrics.

pub mod access;
pub mod api;
pub mod html;
pub mod notice;
pub mod pages;
pub mod rejection;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use access::{ADMIN, ALL_ROLES, CASE_ACTORS, DESK, Routes, Rule, STAFF};

use crate::{Error, SharedState};

/// No inline script or style, no plugins, no framing, nothing fetched from another origin: crawled
/// text that slipped into markup still could not run.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Every route with who may call it (see [`access`]).
pub fn router(state: SharedState) -> Router {
    let signed_in = Rule::read(ALL_ROLES);
    // The public feed: what anonymous readers get with `auth.public_read_api` is narrowed by
    // `crate::audience` (no cases, no unit assignments).
    let feed = Rule::read(ALL_ROLES).or_public();
    Routes::new(state.clone())
        .get("/healthz", Rule::OPEN, api::ops::healthz)
        // Counts, not content: scraped without a login like `/healthz`.
        .get("/metrics", Rule::OPEN, api::ops::metrics)
        .get("/api/me", Rule::OPEN, api::directory::me)
        .get("/api/events", feed, api::events::list)
        .get("/api/events/{id}", feed, api::events::detail)
        .post(
            "/api/events/{id}/judge",
            Rule::write(DESK),
            api::events::judge,
        )
        // Cases and their audit logs are never public.
        .get("/api/cases", signed_in, api::cases::list)
        .post("/api/cases", Rule::write(DESK), api::cases::open)
        .get("/api/cases/{id}", signed_in, api::cases::detail)
        .post(
            "/api/cases/{id}/commands",
            Rule::write(CASE_ACTORS),
            api::cases::command,
        )
        // The outcome of a command, for the user who sent it (checked in the handler).
        .get("/api/commands/{id}", signed_in, api::cases::command_outcome)
        .get("/api/items", feed, api::items::list)
        .get("/api/sources", feed, api::items::sources)
        .post(
            "/api/items/{id}/notify",
            Rule::write(DESK),
            api::items::notify,
        )
        .post("/api/intake", Rule::write(CASE_ACTORS), api::intake::report)
        .get("/api/stats", feed, api::ops::stats)
        .get("/api/stream", feed, stream::stream)
        .get("/api/districts", feed, api::districts::grid)
        .get("/api/units", signed_in, api::directory::units)
        .get("/api/ops", Rule::read(DESK), api::ops::ops)
        .get(
            "/api/reports/{period}",
            Rule::read(STAFF),
            api::reports::report,
        )
        .get(
            "/reports/{period}/{file}",
            Rule::read(STAFF),
            api::reports::report_file,
        )
        .get(
            "/reports/{period}/print",
            Rule::page(STAFF),
            pages::report_print,
        )
        .get("/api/archive", Rule::read(STAFF), api::reports::archive)
        .get(
            "/reports/archive/{name}",
            Rule::read(STAFF),
            api::reports::archive_file,
        )
        .get("/", Rule::page(ALL_ROLES).or_public(), pages::monitor)
        .get("/inbox", Rule::page(ALL_ROLES), pages::inbox)
        .get("/reports", Rule::page(STAFF), pages::reports)
        .get("/ops", Rule::page(DESK), pages::ops)
        .get("/admin", Rule::page(ADMIN), pages::admin)
        .post("/admin/users", Rule::write(ADMIN), pages::admin_user)
        .post("/admin/units", Rule::write(ADMIN), pages::admin_unit)
        .get("/login", Rule::OPEN, pages::login_form)
        // The login form carries its own token: there is no session yet (see `pages::login`).
        .post("/login", Rule::OPEN, pages::login)
        .post(
            "/logout",
            Rule::write(ALL_ROLES).or_signed_out(),
            pages::logout,
        )
        .get("/account", Rule::page(ALL_ROLES), pages::account)
        .post(
            "/account/password",
            Rule::write(ALL_ROLES),
            pages::change_password,
        )
        .get("/assets/{*path}", Rule::OPEN, asset)
        // Browsers ask for it whatever the page says.
        .get("/favicon.ico", Rule::OPEN, favicon)
        .into_router()
        .layer(middleware::from_fn(rejection::chinese_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

async fn security_headers(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.auth.https {
        // Browsers take HSTS only from HTTPS responses, so it is harmless on the plain hop
        // between a TLS proxy and this server. No includeSubDomains: other sites of the domain
        // are not ours to decide.
        let hsts = format!("max-age={}", state.config.auth.hsts_max_age_seconds);
        if let Ok(v) = HeaderValue::from_str(&hsts) {
            h.insert(header::STRICT_TRANSPORT_SECURITY, v);
        }
    }
    res
}

/// Every failure a handler can report, mapped to a status here and nowhere else.
#[derive(Debug)]
pub enum ApiError {
    /// Not logged in: JSON callers get 401, page callers a redirect to the login page.
    Unauthorized,
    Forbidden,
    NotFound,
    BadRequest(String),
    /// Well-formed but not acceptable (a missing reason, a text too long, an unknown unit): 422.
    Invalid(String),
    /// The case's state does not accept the command: 409.
    Conflict(String),
    TooManyRequests,
    Internal(Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::BadRequest(m) => ApiError::BadRequest(m),
            Error::Account(p) => ApiError::BadRequest(notice::Notice::from(p).text().into()),
            e => ApiError::Internal(e),
        }
    }
}

impl From<sled::Error> for ApiError {
    fn from(e: sled::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "请先登录".to_string()),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "无权访问".to_string()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "未找到".to_string()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "尝试次数过多，请稍后再试".to_string(),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                let status = if e.is_retryable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                (status, "服务器内部错误".to_string())
            }
        };
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    }
}

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub sse_viewers: AtomicI64,
    pub commands_published: AtomicU64,
    pub messages: Mutex<BTreeMap<&'static str, u64>>,
    /// The district grid, shared by all viewers for a few seconds (see `api::districts::grid`).
    pub districts_cache: Mutex<Option<(std::time::Instant, Vec<api::districts::DistrictCell>)>>,
    /// Consumer lag, sampled in the background (`api::ops::sample_lag`).
    pub lag: Mutex<Option<api::ops::LagSample>>,
}

impl Metrics {
    pub fn count_message(&self, topic: &'static str) {
        let mut m = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(topic).or_default() += 1;
    }
}

struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../../assets/", $path)),
        }
    };
}

/// Everything the browser loads, compiled into the binary: the UI works on an offline intranet.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("cases.js", "text/javascript; charset=utf-8"),
    asset!("monitor.js", "text/javascript; charset=utf-8"),
    asset!("inbox.js", "text/javascript; charset=utf-8"),
    asset!("reports.js", "text/javascript; charset=utf-8"),
    asset!("ops.js", "text/javascript; charset=utf-8"),
    asset!(
        "vendor/echarts/echarts.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/echarts/LICENSE", "text/plain; charset=utf-8"),
    asset!("vendor/echarts/NOTICE", "text/plain; charset=utf-8"),
];

pub(crate) const MONITOR_HTML: &str = include_str!("../../assets/monitor.html");
pub(crate) const INBOX_HTML: &str = include_str!("../../assets/inbox.html");
pub(crate) const REPORTS_HTML: &str = include_str!("../../assets/reports.html");
pub(crate) const OPS_HTML: &str = include_str!("../../assets/ops.html");

async fn favicon() -> Response {
    asset(axum::extract::Path("favicon.svg".to_string())).await
}

async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            a.body,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}
