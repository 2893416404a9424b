//! The HTTP surface: routes, the error → status mapping (in one place), security headers,
//! static assets and metrics.

pub mod api;
pub mod html;
pub mod pages;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::store::Role;
use crate::{Error, SharedState, auth};

/// No inline script or style, no plugins, no framing, nothing fetched from another origin: crawled
/// text that slipped into markup still could not run.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/api/me", get(api::me))
        .route("/api/events", get(api::events))
        .route("/api/events/{id}", get(api::event_detail))
        .route("/api/events/{id}/judge", post(api::judge_event))
        .route("/api/cases", get(api::cases).post(api::open_case))
        .route("/api/cases/{id}", get(api::case_detail))
        .route("/api/cases/{id}/commands", post(api::case_command))
        .route("/api/items", get(api::items))
        .route("/api/items/{id}/notify", post(api::notify_item))
        .route("/api/intake", post(api::intake))
        .route("/api/stats", get(api::stats))
        .route("/api/stream", get(stream::stream))
        .route("/api/districts", get(api::districts))
        .route("/api/units", get(api::units))
        .route("/api/ops", get(api::ops))
        .route("/api/reports/{period}", get(api::report))
        .route("/reports/{period}/{file}", get(api::report_file))
        .route("/reports/{period}/print", get(pages::report_print))
        .route("/api/archive", get(api::archive))
        .route("/reports/archive/{name}", get(api::archive_file))
        .route("/", get(pages::monitor))
        .route("/inbox", get(pages::inbox))
        .route("/reports", get(pages::reports))
        .route("/ops", get(pages::ops))
        .route("/admin", get(pages::admin))
        .route("/admin/users", post(pages::admin_user))
        .route("/admin/units", post(pages::admin_unit))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/account", get(pages::account))
        .route("/account/password", post(pages::change_password))
        .route("/assets/{*path}", get(asset))
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
    TooManyRequests,
    Internal(Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::BadRequest(m) => ApiError::BadRequest(m),
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

pub const ALL_ROLES: &[Role] = &[Role::Desk, Role::Unit, Role::Leader, Role::Admin];
pub const STAFF: &[Role] = &[Role::Desk, Role::Leader, Role::Admin];
pub const DESK: &[Role] = &[Role::Desk, Role::Admin];

/// The access rule of a route: which roles may use it, and whether an anonymous caller may read
/// it when `auth.public_read_api` is on.
pub fn gate(
    state: &SharedState,
    headers: &axum::http::HeaderMap,
    roles: &[Role],
    public_read: bool,
) -> Result<Option<auth::Current>, ApiError> {
    match auth::current(state, headers)? {
        Some(cur) if roles.contains(&cur.role()) => Ok(Some(cur)),
        Some(_) => Err(ApiError::Forbidden),
        None if public_read && state.config.auth.public_read_api => Ok(None),
        None => Err(ApiError::Unauthorized),
    }
}

/// Like [`gate`] for state-changing requests: a session is always required, and the CSRF token
/// must match the session's.
pub fn gate_write(
    state: &SharedState,
    headers: &axum::http::HeaderMap,
    roles: &[Role],
    form_token: Option<&str>,
) -> Result<auth::Current, ApiError> {
    let cur = auth::current(state, headers)?.ok_or(ApiError::Unauthorized)?;
    let presented = form_token.map(String::from).or_else(|| {
        headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    });
    if !presented.is_some_and(|t| auth::same_token(&t, &cur.session.csrf)) {
        return Err(ApiError::Forbidden);
    }
    if !roles.contains(&cur.role()) {
        return Err(ApiError::Forbidden);
    }
    Ok(cur)
}

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub sse_viewers: AtomicI64,
    pub commands_published: AtomicU64,
    pub messages: Mutex<BTreeMap<&'static str, u64>>,
    /// The district grid, shared by all viewers for a few seconds (see `api::districts`).
    pub districts_cache: Mutex<Option<(std::time::Instant, Vec<api::DistrictCell>)>>,
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
