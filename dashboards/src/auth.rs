//! Accounts, sessions, CSRF tokens and login throttling.
//!
//! - Passwords: argon2id PHC strings; verification is CPU-heavy, so it runs on the blocking pool.
//! - Sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie; sled stores only its
//!   SHA-256. Login always mints a new token and ignores any presented one (no fixation).
//! - CSRF: a per-session synchronizer token, sent back in a hidden form field or the
//!   `X-CSRF-Token` header; the login form (no session yet) uses a double-submit cookie whose
//!   value this server signed (HMAC-SHA256 with a per-process key), so a value an attacker
//!   planted in the cookie is refused.
//! - Throttling of failed logins: see [`crate::throttle`].

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Role, Session, User};
use crate::{AuthConfig, Error, SharedState};

pub const SESSION_COOKIE: &str = "yq_session";
pub const LOGIN_CSRF_COOKIE: &str = "yq_login_csrf";

pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Password(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Why a new account (or a new password) is refused. The CLI prints the English text; the pages
/// show the Chinese notice (`web::notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountProblem {
    #[error("用户名须为 1-64 个字符，不含空白")]
    BadName,
    #[error("密码至少 10 个字符")]
    ShortPassword,
    #[error("密码最多 256 个字符")]
    LongPassword,
    #[error("责任单位账号须指定所属单位（--unit）")]
    UnitWithoutUnitId,
}

/// The longest password an account may have.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A checked new account (the name and password rules live here, for the CLI and the admin page).
pub fn new_user(
    name: &str,
    role: Role,
    unit_id: Option<&str>,
    password: &str,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AccountProblem::BadName.into());
    }
    if password.chars().count() < 10 {
        return Err(AccountProblem::ShortPassword.into());
    }
    // A limit like every other field a person types (and argon2 reads all of it).
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AccountProblem::LongPassword.into());
    }
    let unit_id = unit_id.map(str::trim).filter(|u| !u.is_empty());
    if role == Role::Unit && unit_id.is_none() {
        return Err(AccountProblem::UnitWithoutUnitId.into());
    }
    Ok(User {
        name: name.to_string(),
        role,
        unit_id: unit_id.map(String::from),
        password_hash: hash_password(password)?,
        disabled: false,
        created_at: now,
    })
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison, so a CSRF token cannot be guessed byte by byte from timing.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A secret of this process that signs the login form's tokens. It is made at start and never
/// stored: a restart only turns forms that were open into "页面已过期".
pub struct ServerKey([u8; 32]);

impl ServerKey {
    pub fn random() -> ServerKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        ServerKey(key)
    }

    fn mac(&self, nonce: &str, expires: i64) -> Hmac<Sha256> {
        // A 32-byte key is always accepted; HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"yq-login-csrf\0");
        mac.update(nonce.as_bytes());
        mac.update(b".");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// A login form token, `nonce.expires.mac`: valid for [`LOGIN_TOKEN_TTL_SECS`] and only if
    /// this server signed it.
    pub fn login_token(&self, now: DateTime<Utc>) -> String {
        let nonce = random_token();
        let expires = now.timestamp() + LOGIN_TOKEN_TTL_SECS;
        let mac = hex::encode(self.mac(&nonce, expires).finalize().into_bytes());
        format!("{nonce}.{expires}.{mac}")
    }

    /// Whether this server signed `token` and it has not expired.
    pub fn login_token_valid(&self, token: &str, now: DateTime<Utc>) -> bool {
        let mut parts = token.split('.');
        let (Some(nonce), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(expires), Ok(mac)) = (expires.parse::<i64>(), hex::decode(mac)) else {
            return false;
        };
        now.timestamp() < expires && self.mac(nonce, expires).verify_slice(&mac).is_ok()
    }
}

/// How long a login form may stay open.
pub const LOGIN_TOKEN_TTL_SECS: i64 = 1800;

/// The name a cookie goes by: over HTTPS with the `__Host-` prefix, which browsers only accept
/// from a secure origin, for the whole host and no sub-domain, so a sibling site cannot plant it.
pub fn cookie_name(cfg: &AuthConfig, base: &str) -> String {
    if cfg.https {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// The value of cookie `base` (named as [`cookie_name`] says) in a request.
pub fn cookie(cfg: &AuthConfig, headers: &HeaderMap, base: &str) -> Option<String> {
    let name = cookie_name(cfg, base);
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for cookie `base`: `Secure` (and `__Host-`) when served over HTTPS.
pub fn set_cookie(cfg: &AuthConfig, base: &str, value: &str, max_age_secs: i64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        cookie_name(cfg, base),
        if cfg.https { "; Secure" } else { "" }
    )
}

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct Current {
    pub user: User,
    pub session: Session,
    pub token_hash: String,
}

impl Current {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn actor(&self) -> common::wire::Actor {
        common::wire::Actor {
            name: self.user.name.clone(),
            unit_id: self.user.unit_id.clone(),
        }
    }
}

/// Resolve the session cookie to a live session of an enabled user.
pub fn current(state: &SharedState, headers: &HeaderMap) -> Result<Option<Current>, Error> {
    let Some(token) = cookie(&state.config.auth, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let th = token_hash(&token);
    let Some(session) = state.store.session(&th)? else {
        return Ok(None);
    };
    if session.expires_at <= state.ctx.clock.now() {
        state.store.delete_session(&th)?;
        return Ok(None);
    }
    let Some(user) = state.store.user(&session.user)? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    Ok(Some(Current {
        user,
        session,
        token_hash: th,
    }))
}

/// Start a fresh session for `user`; returns the cookie token.
pub fn start_session(state: &SharedState, user: &str) -> Result<String, Error> {
    let token = random_token();
    let now = state.ctx.clock.now();
    state.store.put_session(
        &token_hash(&token),
        &Session {
            user: user.to_string(),
            csrf: random_token(),
            created_at: now,
            expires_at: now + Duration::minutes(state.config.auth.session_ttl_minutes),
        },
    )?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_longer_than_the_limit_is_refused() {
        let long = "好".repeat(MAX_PASSWORD_CHARS + 1);
        let err = new_user("desk1", Role::Desk, None, &long, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("256"), "{err}");
        let longest = "好".repeat(MAX_PASSWORD_CHARS);
        assert!(new_user("desk1", Role::Desk, None, &longest, Utc::now()).is_ok());
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn only_tokens_this_server_signed_are_valid() {
        let key = ServerKey::random();
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let token = key.login_token(now);
        assert!(key.login_token_valid(&token, now));
        assert!(key.login_token_valid(&token, now + Duration::seconds(1799)));
        assert!(
            !key.login_token_valid(&token, now + Duration::seconds(1800)),
            "expired"
        );
        assert!(
            !ServerKey::random().login_token_valid(&token, now),
            "another key"
        );
        let parts: Vec<&str> = token.split('.').collect();
        let later = (parts[1].parse::<i64>().unwrap() + 3600).to_string();
        for forged in [
            format!("{}.{later}.{}", parts[0], parts[2]),
            format!("{}.{}.{}", random_token(), parts[1], parts[2]),
            format!("{}.{}", parts[0], parts[1]),
            format!("{token}.x"),
            "planted".into(),
            String::new(),
        ] {
            assert!(!key.login_token_valid(&forged, now), "{forged}");
        }
    }

    #[test]
    fn tokens_compare() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""));
    }
}
