//! Access rules on the router. Every route is added through [`Routes`] with a [`Rule`] saying who
//! may call it; the rule is checked before the handler runs, so a handler never has to remember a
//! check. Handlers learn who is calling from the [`Caller`] and [`SignedIn`] extractors, which
//! only a rule provides: a handler mounted around [`Routes`] refuses every request instead of
//! serving it unchecked.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{self, MethodRouter};

use super::ApiError;
use crate::SharedState;
use crate::auth::{self, Current};
use crate::store::Role;

pub const ALL_ROLES: &[Role] = &[Role::Desk, Role::Unit, Role::Leader, Role::Admin];
pub const STAFF: &[Role] = &[Role::Desk, Role::Leader, Role::Admin];
pub const DESK: &[Role] = &[Role::Desk, Role::Admin];
/// Who may act on a case: the desk for 研判, a unit on its own cases (narrowed by the handler).
pub const CASE_ACTORS: &[Role] = &[Role::Desk, Role::Unit, Role::Admin];
pub const ADMIN: &[Role] = &[Role::Admin];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Anyone; the caller is still resolved, for pages that greet a logged-in user.
    Open,
    /// JSON reads: a missing login is 401, a wrong role 403.
    Read,
    /// Pages: a missing login sends to the login page, a wrong role gets a readable 403 page.
    Page,
    /// State changes: a session, its CSRF token, and a role.
    Write,
}

/// Who may call one route.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    kind: Kind,
    roles: &'static [Role],
    /// Reads and pages: anonymous callers too, when `auth.public_read_api` is on.
    public: bool,
    /// Writes: a caller without a session passes as anonymous (logging out when already out).
    signed_out: bool,
}

impl Rule {
    /// Anyone, logged in or not: health, metrics, assets, the login form.
    pub const OPEN: Rule = Rule {
        kind: Kind::Open,
        roles: &[],
        public: false,
        signed_out: false,
    };

    const fn new(kind: Kind, roles: &'static [Role]) -> Rule {
        Rule {
            kind,
            roles,
            public: false,
            signed_out: false,
        }
    }

    /// JSON reads by these roles.
    pub const fn read(roles: &'static [Role]) -> Rule {
        Rule::new(Kind::Read, roles)
    }

    /// Pages for these roles.
    pub const fn page(roles: &'static [Role]) -> Rule {
        Rule::new(Kind::Page, roles)
    }

    /// State changes by these roles. The CSRF token comes in the `X-CSRF-Token` header (script)
    /// or the `csrf` field of a url-encoded form (server-rendered pages).
    pub const fn write(roles: &'static [Role]) -> Rule {
        Rule::new(Kind::Write, roles)
    }

    /// Reads and pages that anonymous visitors may see when `auth.public_read_api` is on.
    pub const fn or_public(mut self) -> Rule {
        self.public = true;
        self
    }

    /// A write that a caller without a session may send too (it then acts on nothing).
    pub const fn or_signed_out(mut self) -> Rule {
        self.signed_out = true;
        self
    }
}

/// The routes of the app, each with its rule. There is no way to add a route without one.
pub struct Routes {
    state: SharedState,
    router: Router<SharedState>,
}

impl Routes {
    pub fn new(state: SharedState) -> Routes {
        Routes {
            state,
            router: Router::new(),
        }
    }

    pub fn get<H, T>(self, path: &str, rule: Rule, handler: H) -> Routes
    where
        H: Handler<T, SharedState>,
        T: 'static,
    {
        self.add(path, rule, routing::get(handler))
    }

    pub fn post<H, T>(self, path: &str, rule: Rule, handler: H) -> Routes
    where
        H: Handler<T, SharedState>,
        T: 'static,
    {
        self.add(path, rule, routing::post(handler))
    }

    fn add(mut self, path: &str, rule: Rule, methods: MethodRouter<SharedState>) -> Routes {
        let check = middleware::from_fn_with_state((self.state.clone(), rule), enforce);
        // Axum merges a second method on the same path into the first: each keeps its own rule.
        self.router = self.router.route(path, methods.route_layer(check));
        self
    }

    pub fn into_router(self) -> Router<SharedState> {
        self.router
    }
}

/// What the rule granted, for the extractors.
#[derive(Clone)]
struct Granted(Option<Current>);

/// The caller of a route: `None` only where the rule admits anonymous callers.
pub struct Caller(pub Option<Current>);

/// A logged-in caller: every write, and every read that does not admit anonymous callers.
pub struct SignedIn(pub Current);

/// A handler asked who is calling but no rule ran: it was mounted without one. Refuse.
fn unruled(parts: &Parts) -> ApiError {
    tracing::error!(path = %parts.uri.path(), "route has no access rule; request refused");
    ApiError::Forbidden
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Granted>() {
            Some(Granted(cur)) => Ok(Caller(cur.clone())),
            None => Err(unruled(parts)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Granted>() {
            Some(Granted(Some(cur))) => Ok(SignedIn(cur.clone())),
            Some(Granted(None)) => Err(ApiError::Unauthorized),
            None => Err(unruled(parts)),
        }
    }
}

/// Form bodies are read whole to find their CSRF field; the server's forms are a few hundred
/// bytes, so anything larger is not one of them.
const FORM_LIMIT: usize = 64 * 1024;

async fn enforce(
    State((state, rule)): State<(SharedState, Rule)>,
    req: Request,
    next: Next,
) -> Response {
    match check(&state, rule, req).await {
        // `check` leaves the grant in the request, where the extractors find it.
        Ok(req) => next.run(req).await,
        Err(e) => refuse(rule, e),
    }
}

async fn check(state: &SharedState, rule: Rule, req: Request) -> Result<Request, ApiError> {
    let current = auth::current(state, req.headers())?;
    let (current, mut req) = match rule.kind {
        Kind::Open => (current, req),
        Kind::Read | Kind::Page => match current {
            Some(c) if rule.roles.contains(&c.role()) => (Some(c), req),
            Some(_) => return Err(ApiError::Forbidden),
            None if rule.public && state.config.auth.public_read_api => (None, req),
            None => return Err(ApiError::Unauthorized),
        },
        Kind::Write => match current {
            None if rule.signed_out => (None, req),
            None => return Err(ApiError::Unauthorized),
            Some(c) => {
                let (token, req) = csrf_token(req).await?;
                if !token.is_some_and(|t| auth::same_token(&t, &c.session.csrf)) {
                    return Err(ApiError::Forbidden);
                }
                if !rule.roles.contains(&c.role()) {
                    return Err(ApiError::Forbidden);
                }
                (Some(c), req)
            }
        },
    };
    req.extensions_mut().insert(Granted(current));
    Ok(req)
}

/// The CSRF token a write presents: the `X-CSRF-Token` header, or the `csrf` field of a form
/// body (read and put back for the handler).
async fn csrf_token(req: Request) -> Result<(Option<String>, Request), ApiError> {
    if let Some(t) = header_token(req.headers()) {
        return Ok((Some(t), req));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| ApiError::BadRequest("表单过大".into()))?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// How a refusal reads: JSON for the API and forms, the login page or a readable page for pages.
fn refuse(rule: Rule, e: ApiError) -> Response {
    match (rule.kind, e) {
        (Kind::Page, ApiError::Unauthorized) => Redirect::to("/login").into_response(),
        (Kind::Page, ApiError::Forbidden) => (
            StatusCode::FORBIDDEN,
            super::html::page(
                "无权访问",
                None,
                r#"<section class="card"><h1>无权访问</h1><p>当前账号无权查看此页面。</p><p><a href="/">返回</a></p></section>"#,
            ),
        )
            .into_response(),
        (_, e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_say_who_and_how() {
        let r = Rule::read(DESK).or_public();
        assert_eq!(r.kind, Kind::Read);
        assert!(r.public && !r.signed_out);
        assert_eq!(r.roles, DESK);
        let w = Rule::write(ALL_ROLES).or_signed_out();
        assert!(w.signed_out && !w.public);
        assert!(Rule::OPEN.roles.is_empty());
    }

    /// A handler mounted on a plain router, without a rule, refuses the request it would have
    /// served unchecked.
    #[tokio::test]
    async fn a_handler_without_a_rule_refuses() {
        async fn who(Caller(cur): Caller) -> String {
            format!("served {}", cur.is_some())
        }
        async fn signed(SignedIn(cur): SignedIn) -> String {
            cur.user.name
        }
        let app = Router::new()
            .route("/who", routing::get(who))
            .route("/signed", routing::get(signed));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        for path in ["/who", "/signed"] {
            let res = http.get(format!("{base}{path}")).send().await.expect("get");
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
            let body = res.text().await.expect("body");
            assert!(!body.contains("served"), "{path}: {body}");
        }
        server.abort();
    }
}
