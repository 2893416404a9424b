//! Pages. The live screens are static shells whose scripts read the JSON API; login, admin and
//! the print view are rendered here with every value escaped.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::ApiError;
use super::access::{Caller, SignedIn};
use super::api::reports::{ReportQuery, build_report};
use super::html::{esc, page};
use super::notice::Notice;
use crate::auth::{self, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use crate::store::Role;
use crate::throttle::{self, LoginLimiter};
use crate::{SharedState, export};

fn shell(html: &'static str) -> Response {
    Html(html).into_response()
}

pub async fn monitor(Caller(cur): Caller) -> Response {
    match cur {
        // A unit's home is its inbox.
        Some(c) if c.role() == Role::Unit => Redirect::to("/inbox").into_response(),
        _ => shell(super::MONITOR_HTML),
    }
}

pub async fn inbox(SignedIn(_): SignedIn) -> Response {
    shell(super::INBOX_HTML)
}

pub async fn reports(SignedIn(_): SignedIn) -> Response {
    shell(super::REPORTS_HTML)
}

pub async fn ops(SignedIn(_): SignedIn) -> Response {
    shell(super::OPS_HTML)
}

pub async fn report_print(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Path(period): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let r = match build_report(&state, &period, &q) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut body = format!(
        r#"<article class="print"><h1 class="doc-title">{}</h1><p class="center">统计时段：{} 至 {}　生成时间：{}</p><p class="noprint">使用浏览器“打印”（Ctrl+P）输出纸质版。</p>"#,
        esc(&r.title),
        esc(&r.start_date),
        esc(&r.end_date),
        esc(&crate::reports::local_time(
            r.generated_at,
            r.utc_offset_hours
        )),
    );
    for s in export::sections(&r) {
        body.push_str(&format!("<h2>{}</h2>", esc(s.heading)));
        if let Some(p) = &s.paragraph {
            body.push_str(&format!(r#"<p class="summary">{}</p>"#, esc(p)));
        }
        if s.rows.is_empty() {
            body.push_str("<p>本期无。</p>");
            continue;
        }
        body.push_str("<table><thead><tr>");
        for h in &s.header {
            body.push_str(&format!("<th>{}</th>", esc(h)));
        }
        body.push_str("</tr></thead><tbody>");
        for row in &s.rows {
            body.push_str("<tr>");
            for c in row {
                body.push_str(&format!("<td>{}</td>", esc(&c.display())));
            }
            body.push_str("</tr>");
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</article>");
    page(
        &r.title,
        Some((&cur.user.name, cur.role().label_zh(), &cur.session.csrf)),
        &body,
    )
    .into_response()
}

// ---- login ----------------------------------------------------------------------------------

fn login_page(state: &SharedState, error: Option<&str>, status: StatusCode) -> Response {
    // Double-submit token: the login form has no session to hold a synchronizer token yet, so
    // the token is signed by the server instead (a planted cookie value is not).
    let token = state.login_key.login_token(state.ctx.clock.now());
    let err = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<section class="card login"><h1>登录</h1>{err}<form method="post" action="/login">
<input type="hidden" name="csrf" value="{token}">
<label>用户名<input name="username" autocomplete="username" required></label>
<label>密码<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">登录</button></form></section>"#
    );
    let mut res = (status, page("登录", None, &body)).into_response();
    let max_age = auth::LOGIN_TOKEN_TTL_SECS;
    if let Ok(v) = auth::set_cookie(&state.config.auth, LOGIN_CSRF_COOKIE, &token, max_age).parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The login form again, saying how long this client must wait (429 with `Retry-After`).
fn too_many(state: &SharedState, wait: chrono::Duration) -> Response {
    let text = format!("登录失败次数过多，请{}后再试", throttle::wait_text(wait));
    let mut res = login_page(state, Some(&text), StatusCode::TOO_MANY_REQUESTS);
    let secs = ((wait.num_milliseconds() + 999) / 1000).max(1);
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    res
}

pub async fn login_form(State(state): State<SharedState>) -> Response {
    login_page(&state, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// A hash of a random password, verified when the account does not exist so that a wrong name
/// costs as much time as a wrong password (no user enumeration by timing).
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| auth::hash_password(&auth::random_token()).unwrap_or_default())
        .clone()
}

pub async fn login(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let cookie_token =
        auth::cookie(&state.config.auth, &headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let now = state.ctx.clock.now();
    if !auth::same_token(&cookie_token, &f.csrf)
        || !state.login_key.login_token_valid(&cookie_token, now)
    {
        return login_page(
            &state,
            Some("页面已过期，请重新登录"),
            StatusCode::FORBIDDEN,
        );
    }
    let name = f.username.trim().to_string();
    let client = state.proxies.client(peer.ip(), &headers);
    // Per account and client: a stranger's failures slow the stranger, not the account's owner.
    let key = LoginLimiter::key(&name, client);
    if let Some(wait) = state.limiter.wait(&key, now) {
        return too_many(&state, wait);
    }
    let user = match state.store.user(&name) {
        Ok(u) => u,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password = f.password;
    // argon2 takes tens of milliseconds: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            state.limiter.fail(&key, now);
            tracing::warn!(user = %name, client = %client, peer = %peer.ip(), "failed login");
            return login_page(&state, Some("用户名或密码错误"), StatusCode::UNAUTHORIZED);
        }
    };
    state.limiter.succeed(&key);
    // Session fixation: whatever session cookie came in is destroyed, and a new token is minted.
    if let Some(old) = auth::cookie(&state.config.auth, &headers, SESSION_COOKIE) {
        let _ = state.store.delete_session(&auth::token_hash(&old));
    }
    let token = match auth::start_session(&state, &user.name) {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let home = match user.role {
        Role::Unit => "/inbox",
        Role::Leader => "/reports",
        Role::Admin => "/admin",
        Role::Desk => "/",
    };
    let mut res = Redirect::to(home).into_response();
    let cfg = &state.config.auth;
    for c in [
        auth::set_cookie(cfg, SESSION_COOKIE, &token, cfg.session_ttl_minutes * 60),
        auth::set_cookie(cfg, LOGIN_CSRF_COOKIE, "", 0),
    ] {
        if let Ok(v) = c.parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Without a session (expired, or already logged out) this only clears the cookie.
pub async fn logout(State(state): State<SharedState>, Caller(cur): Caller) -> Response {
    if let Some(cur) = cur {
        let _ = state.store.delete_session(&cur.token_hash);
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(&state.config.auth, SESSION_COOKIE, "", 0).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---- admin ----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    msg: Option<String>,
}

pub async fn admin(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Query(q): Query<AdminQuery>,
) -> Response {
    let (users, units) = match (state.store.users(), state.store.units()) {
        (Ok(u), Ok(n)) => (u, n),
        (Err(e), _) | (_, Err(e)) => return ApiError::from(e).into_response(),
    };
    let csrf = esc(&cur.session.csrf);
    let unit_options: String = units
        .iter()
        .map(|u| {
            format!(
                r#"<option value="{}">{}</option>"#,
                esc(&u.id),
                esc(&u.name)
            )
        })
        .collect();
    let mut body = Notice::html(q.msg.as_deref());
    body.push_str(r#"<section class="card"><h1>用户管理</h1><table id="users"><thead><tr><th>用户名</th><th>角色</th><th>单位</th><th>状态</th><th>操作</th></tr></thead><tbody>"#);
    for u in &users {
        let toggle = if u.disabled { "enable" } else { "disable" };
        let toggle_label = if u.disabled { "启用" } else { "停用" };
        body.push_str(&format!(
            r#"<tr><td>{name}</td><td>{role}</td><td>{unit}</td><td>{status}</td><td>
<form method="post" action="/admin/users" class="inline"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="op" value="{toggle}"><input type="hidden" name="name" value="{name}"><button type="submit">{toggle_label}</button></form>
<form method="post" action="/admin/users" class="inline"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="op" value="password"><input type="hidden" name="name" value="{name}"><input type="password" name="password" placeholder="新密码（至少10位）" autocomplete="new-password"><button type="submit">重置密码</button></form></td></tr>"#,
            name = esc(&u.name),
            role = esc(u.role.label_zh()),
            unit = esc(&match u.unit_id.as_deref() {
                None => "—".to_string(),
                Some(id) => units
                    .iter()
                    .find(|x| x.id == id)
                    .map_or_else(|| format!("{id}（不在单位名录中）"), |x| x.name.clone()),
            }),
            status = if u.disabled { "已停用" } else { "正常" },
        ));
    }
    body.push_str(&format!(
        r#"</tbody></table>
<h2>新建用户</h2><form method="post" action="/admin/users" class="grid-form" id="create-user">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="op" value="create">
<label>用户名<input name="name" required></label>
<label>角色<select name="role"><option value="desk">监测值班</option><option value="unit">责任单位</option><option value="leader">领导</option><option value="admin">管理员</option></select></label>
<label>所属单位（责任单位账号必填）<select name="unit_id"><option value="">—</option>{unit_options}</select></label>
<label>初始密码<input name="password" type="password" autocomplete="new-password" required minlength="10"></label>
<button type="submit">创建</button></form></section>
<section class="card"><h1>单位</h1><table id="units"><thead><tr><th>编号</th><th>名称</th></tr></thead><tbody>"#
    ));
    for u in &units {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&u.id),
            esc(&u.name)
        ));
    }
    body.push_str(&format!(
        r#"</tbody></table><h2>单位更名</h2><form method="post" action="/admin/units" class="grid-form">
<input type="hidden" name="csrf" value="{csrf}"><label>编号<input name="id" required></label><label>名称<input name="name" required></label><button type="submit">保存</button></form>
<p class="hint">单位来自响应模块的单位名录（respond.units），案件中出现的责任单位也会列入；更名后看板各处（名单、案件、报告）显示新名称；通知仍用响应模块名录中的名称。</p></section>"#
    ));
    page(
        "管理",
        Some((&cur.user.name, cur.role().label_zh(), &cur.session.csrf)),
        &body,
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct AdminUserForm {
    op: String,
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default)]
    password: String,
}

fn back(notice: Notice) -> Response {
    notice.redirect("/admin").into_response()
}

/// Why an admin form did nothing: a notice for the admin, or a failure of the server.
enum Refused {
    Notice(Notice),
    Failed(crate::Error),
}

impl From<crate::Error> for Refused {
    fn from(e: crate::Error) -> Refused {
        match e {
            crate::Error::Account(p) => Refused::Notice(p.into()),
            e => Refused::Failed(e),
        }
    }
}

pub async fn admin_user(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Form(f): Form<AdminUserForm>,
) -> Response {
    let now = state.ctx.clock.now();
    let (admin, op, name) = (cur.user.name.clone(), f.op.clone(), f.name.clone());
    // argon2 hashing and store writes: on the blocking pool, not on an async worker.
    let result = tokio::task::spawn_blocking({
        let (state, admin) = (state.clone(), admin.clone());
        move || administer_user(&state, &admin, &f, now)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Refused::Failed(crate::Error::Store(format!(
            "user administration task failed: {e}"
        ))))
    });
    match result {
        Ok(n) => {
            tracing::info!(%admin, %op, user = %name, "user administration");
            back(n)
        }
        Err(Refused::Notice(n)) => back(n),
        Err(Refused::Failed(e)) => ApiError::from(e).into_response(),
    }
}

fn administer_user(
    state: &SharedState,
    admin: &str,
    f: &AdminUserForm,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Notice, Refused> {
    match f.op.as_str() {
        "create" => {
            if state.store.user(f.name.trim())?.is_some() {
                return Err(Refused::Notice(Notice::UserExists));
            }
            let role = Role::parse(&f.role).ok_or(Refused::Notice(Notice::UnknownRole))?;
            let unit = Some(f.unit_id.trim()).filter(|u| !u.is_empty());
            if let Some(unit) = unit
                && !state.store.units()?.iter().any(|u| u.id == unit)
            {
                return Err(Refused::Notice(Notice::UnitNotInRegistry));
            }
            let user = auth::new_user(&f.name, role, unit, &f.password, now)?;
            state.store.put_user(&user)?;
            Ok(Notice::UserCreated)
        }
        "disable" | "enable" => {
            if f.name == admin {
                return Err(Refused::Notice(Notice::CannotDisableSelf));
            }
            let mut u = state
                .store
                .user(&f.name)?
                .ok_or(Refused::Notice(Notice::UnknownUser))?;
            u.disabled = f.op == "disable";
            state.store.put_user(&u)?;
            if u.disabled {
                state.store.delete_sessions_of(&u.name)?;
            }
            Ok(if u.disabled {
                Notice::UserDisabled
            } else {
                Notice::UserEnabled
            })
        }
        "password" => {
            let mut u = state
                .store
                .user(&f.name)?
                .ok_or(Refused::Notice(Notice::UnknownUser))?;
            let fresh = auth::new_user(&u.name, u.role, u.unit_id.as_deref(), &f.password, now)?;
            u.password_hash = fresh.password_hash;
            state.store.put_user(&u)?;
            state.store.delete_sessions_of(&u.name)?;
            Ok(Notice::PasswordReset)
        }
        _ => Err(Refused::Notice(Notice::UnknownOperation)),
    }
}

#[derive(Deserialize)]
pub struct AdminUnitForm {
    id: String,
    name: String,
}

pub async fn admin_unit(
    State(state): State<SharedState>,
    Form(f): Form<AdminUnitForm>,
) -> Response {
    let (id, name) = (f.id.trim(), f.name.trim());
    if id.is_empty() || name.is_empty() {
        return back(Notice::UnitFieldsEmpty);
    }
    if name.chars().count() > 100 || id.chars().count() > 100 {
        return back(Notice::UnitNameTooLong);
    }
    // With the registry known, only its units (and case owners) exist: a new id would be a
    // unit respond refuses.
    match state.store.has_registry() {
        Ok(true) => match state.store.units() {
            Ok(units) if !units.iter().any(|u| u.id == id) => {
                return back(Notice::UnitNotInRegistry);
            }
            Ok(_) => {}
            Err(e) => return ApiError::from(e).into_response(),
        },
        Ok(false) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    match state.store.put_unit(id, name) {
        Ok(()) => back(Notice::UnitSaved),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// ---- own account ----------------------------------------------------------------------------

pub async fn account(SignedIn(cur): SignedIn, Query(q): Query<AdminQuery>) -> Response {
    let msg = Notice::html(q.msg.as_deref());
    let body = format!(
        r#"{msg}<section class="card login"><h1>修改密码</h1><p>{name} · {role}</p>
<form method="post" action="/account/password">
<input type="hidden" name="csrf" value="{csrf}">
<label>当前密码<input name="current" type="password" autocomplete="current-password" required></label>
<label>新密码（至少10位）<input name="new" type="password" autocomplete="new-password" required minlength="10"></label>
<label>确认新密码<input name="confirm" type="password" autocomplete="new-password" required minlength="10"></label>
<button type="submit">修改</button></form></section>"#,
        name = esc(&cur.user.name),
        role = esc(cur.role().label_zh()),
        csrf = esc(&cur.session.csrf),
    );
    page(
        "修改密码",
        Some((&cur.user.name, cur.role().label_zh(), &cur.session.csrf)),
        &body,
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// Changing one's own password ends every session of the account (a stolen cookie dies too).
pub async fn change_password(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let to_account = |n: Notice| n.redirect("/account");
    if f.new != f.confirm {
        return to_account(Notice::PasswordsDiffer).into_response();
    }
    let now = state.ctx.clock.now();
    // The same throttle as the login form: guessing the current password of a stolen session.
    let key = LoginLimiter::key(&cur.user.name, state.proxies.client(peer.ip(), &headers));
    if state.limiter.wait(&key, now).is_some() {
        return to_account(Notice::TooManyAttempts).into_response();
    }
    let (password, hash) = (f.current.clone(), cur.user.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        state.limiter.fail(&key, now);
        return to_account(Notice::WrongCurrentPassword).into_response();
    }
    state.limiter.succeed(&key);
    // Hashing the new password is argon2 as well: off the async workers like the verification.
    let (name, role, unit, new) = (
        cur.user.name.clone(),
        cur.user.role,
        cur.user.unit_id.clone(),
        f.new.clone(),
    );
    let hashed = tokio::task::spawn_blocking(move || {
        auth::new_user(&name, role, unit.as_deref(), &new, now)
    })
    .await;
    let fresh = match hashed {
        Ok(Ok(u)) => u,
        Ok(Err(crate::Error::Account(p))) => return to_account(p.into()).into_response(),
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(e) => {
            return ApiError::from(crate::Error::Store(format!("password hashing task: {e}")))
                .into_response();
        }
    };
    let mut user = cur.user.clone();
    user.password_hash = fresh.password_hash;
    let saved = state
        .store
        .put_user(&user)
        .and_then(|()| state.store.delete_sessions_of(&user.name));
    if let Err(e) = saved {
        return ApiError::from(e).into_response();
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(&state.config.auth, SESSION_COOKIE, "", 0).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
