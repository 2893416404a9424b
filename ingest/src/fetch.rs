//! The polite, defensive HTTP client every source uses.
//!
//! - SSRF guard: private, loopback, link-local and other non-public targets are refused unless
//!   the source allows them — for IP literals up front and in every redirect hop, and for names
//!   in the DNS resolver itself, so a redirect or a DNS answer cannot sneak past it.
//! - robots.txt per origin (cached), with its crawl-delay, checked for the link and again for
//!   the URL a redirect ends on (another path or host has its own rules).
//! - Per-host concurrency and a minimum interval between requests to one host.
//! - Conditional GET (ETag / Last-Modified → 304).
//! - Retries of retryable failures with exponential backoff and jitter, honouring `Retry-After`.
//! - Timeouts (connect, whole request: a slow-drip server cannot hold a worker), a body size cap
//!   counted on the decompressed stream, a redirect limit with loop detection, content-type
//!   checks and binary sniffing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Shutdown;
use reqwest::header::{self, HeaderMap};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, warn};
use url::Url;

use crate::config::Config;
use crate::error::Error;

/// What the caller expects, for the Accept header and the content-type check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Html,
    Feed,
    Json,
    Robots,
}

/// HTTP cache validators kept per URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

#[derive(Debug)]
pub enum Fetched {
    /// 304: the resource did not change since the validators were taken.
    NotModified,
    Page(Page),
}

#[derive(Debug, Clone)]
pub struct Page {
    /// After redirects.
    pub url: Url,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    pub validators: Validators,
}

impl Page {
    pub fn charset(&self) -> Option<&str> {
        self.content_type
            .as_deref()
            .and_then(crate::decode::charset_of)
    }
}

/// Pacing state of one host.
struct HostGate {
    permits: Semaphore,
    next_at: tokio::sync::Mutex<Instant>,
    crawl_delay: Mutex<Option<Duration>>,
    /// Set by a `Retry-After` longer than one backoff wait.
    deferred_until: Mutex<Option<Instant>>,
}

#[derive(Clone)]
enum RobotsRule {
    AllowAll,
    Rules(Arc<texting_robots::Robot>),
}

struct RobotsEntry {
    fetched: Instant,
    rule: RobotsRule,
}

pub struct Fetcher {
    strict: reqwest::Client,
    permissive: reqwest::Client,
    cfg: Arc<Config>,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
    robots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<RobotsEntry>>>>>,
}

/// The error a guard puts in reqwest's error chain; found again by `classify`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GuardError(String);

impl Fetcher {
    pub fn new(cfg: Arc<Config>) -> Result<Self, Error> {
        Ok(Self {
            strict: build_client(&cfg, false)?,
            permissive: build_client(&cfg, true)?,
            cfg,
            hosts: Mutex::new(HashMap::new()),
            robots: Mutex::new(HashMap::new()),
        })
    }

    /// Fetch `url` with retries. Returns early with [`Error::Shutdown`] when `shutdown` fires.
    pub async fn fetch(
        &self,
        url: &Url,
        allow_private: bool,
        want: Want,
        validators: Option<&Validators>,
        shutdown: &Shutdown,
    ) -> Result<Fetched, Error> {
        check_target(url, allow_private)?;
        if self.cfg.respect_robots && want != Want::Robots {
            self.check_robots(url, allow_private, shutdown).await?;
        }
        let gate = self.gate(url);
        let mut attempt = 0u32;
        loop {
            // A host that asked for a pause longer than we wait in-line is skipped until then.
            let deferred = *gate
                .deferred_until
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(until) = deferred.filter(|u| *u > Instant::now()) {
                return Err(Error::Deferred {
                    url: url.to_string(),
                    wait: until - Instant::now(),
                });
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => return Err(Error::Shutdown),
                r = self.fetch_once(url, allow_private, want, validators) => r,
            };
            if let Some(ra) = result.as_ref().err().and_then(Error::retry_after) {
                if ra > self.cfg.backoff_max() {
                    // Honour it across rounds instead of hammering the host at our own pace.
                    let until = Instant::now() + ra.min(Duration::from_secs(24 * 3600));
                    *gate
                        .deferred_until
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(until);
                    return result;
                }
            }
            match result {
                Err(e) if e.is_retryable() && attempt < self.cfg.max_retries => {
                    attempt += 1;
                    let wait = e
                        .retry_after()
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(self.cfg.backoff_max());
                    warn!(url = %url, attempt, wait_ms = wait.as_millis() as u64, error = %e, "fetch failed, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(Error::Shutdown),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Ok(Fetched::Page(page))
                    if self.cfg.respect_robots
                        && want != Want::Robots
                        && page.url.as_str() != url.as_str() =>
                {
                    // Redirects are followed inside the HTTP client, so robots.txt was checked
                    // for the link only: a link may lead to a disallowed path or another host.
                    // The page is discarded unless the final URL is allowed too.
                    let same_host = page.url.host_str() == url.host_str();
                    self.check_robots(&page.url, allow_private && same_host, shutdown)
                        .await?;
                    return Ok(Fetched::Page(page));
                }
                other => return other,
            }
        }
    }

    /// Exponential backoff with full jitter in its upper half, so retries of many workers spread.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .cfg
            .backoff_base_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
        let capped = base.min(self.cfg.backoff_max().as_millis() as u64).max(1);
        Duration::from_millis(capped / 2 + fastrand::u64(0..=capped / 2))
    }

    fn gate(&self, url: &Url) -> Arc<HostGate> {
        let key = origin(url);
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(key)
            .or_insert_with(|| {
                Arc::new(HostGate {
                    permits: Semaphore::new(self.cfg.per_host_concurrency.max(1)),
                    next_at: tokio::sync::Mutex::new(Instant::now()),
                    crawl_delay: Mutex::new(None),
                    deferred_until: Mutex::new(None),
                })
            })
            .clone()
    }

    async fn fetch_once(
        &self,
        url: &Url,
        allow_private: bool,
        want: Want,
        validators: Option<&Validators>,
    ) -> Result<Fetched, Error> {
        let gate = self.gate(url);
        // The semaphore is never closed, so acquire only fails if it were; treat as shutdown.
        let _permit = gate.permits.acquire().await.map_err(|_| Error::Shutdown)?;
        {
            let delay = (*gate.crawl_delay.lock().unwrap_or_else(|p| p.into_inner()))
                .unwrap_or_default()
                .max(Duration::from_millis(self.cfg.per_host_min_interval_ms));
            let mut next_at = gate.next_at.lock().await;
            let now = Instant::now();
            if *next_at > now {
                tokio::time::sleep_until(*next_at).await;
            }
            *next_at = Instant::now() + delay;
        }

        let client = if allow_private {
            &self.permissive
        } else {
            &self.strict
        };
        let mut req = client.get(url.clone()).header(header::ACCEPT, accept(want));
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        let timeout = self.cfg.request_timeout();
        let resp = match tokio::time::timeout(timeout, req.send()).await {
            Err(_) => {
                return Err(Error::Timeout {
                    url: url.to_string(),
                });
            }
            Ok(Err(e)) => return Err(classify(url, &e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let final_url = resp.url().clone();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            debug!(url = %url, "not modified");
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                retry_after: retry_after(resp.headers()),
            });
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(ct) = &content_type {
            if !content_type_ok(want, ct) {
                return Err(Error::ContentType {
                    url: url.to_string(),
                    content_type: ct.clone(),
                });
            }
        }
        let cap = self.cfg.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(Error::TooLarge {
                url: url.to_string(),
                limit: cap,
            });
        }
        let validators = Validators {
            etag: header_str(resp.headers(), header::ETAG),
            last_modified: header_str(resp.headers(), header::LAST_MODIFIED),
        };
        // The whole-request timeout above covers only the headers; the body gets what is left.
        let bytes = match tokio::time::timeout(timeout, read_capped(resp, cap, url)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    url: url.to_string(),
                });
            }
            Ok(r) => r?,
        };
        if want != Want::Robots && looks_binary(&bytes) {
            return Err(Error::ContentType {
                url: url.to_string(),
                content_type: content_type.unwrap_or_else(|| "binary (sniffed)".into()),
            });
        }
        Ok(Fetched::Page(Page {
            url: final_url,
            content_type,
            bytes,
            validators,
        }))
    }

    async fn check_robots(
        &self,
        url: &Url,
        allow_private: bool,
        shutdown: &Shutdown,
    ) -> Result<(), Error> {
        let key = origin(url);
        let slot = {
            let mut map = self.robots.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        // One robots fetch per origin at a time; other origins are not held up.
        let mut entry = slot.lock().await;
        let ttl = Duration::from_secs(self.cfg.robots_cache_secs);
        let fresh = entry.as_ref().is_some_and(|e| e.fetched.elapsed() < ttl);
        if !fresh {
            let rule = self.fetch_robots(url, allow_private, shutdown).await?;
            if let RobotsRule::Rules(r) = &rule {
                let delay = r
                    .delay
                    .filter(|d| d.is_finite() && *d > 0.0)
                    .map(|d| Duration::from_secs_f32(d.min(60.0)));
                *self
                    .gate(url)
                    .crawl_delay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = delay;
            }
            *entry = Some(RobotsEntry {
                fetched: Instant::now(),
                rule,
            });
        }
        match entry.as_ref().map(|e| e.rule.clone()) {
            Some(RobotsRule::Rules(r)) if !r.allowed(url.as_str()) => {
                Err(Error::RobotsDisallowed {
                    url: url.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// robots.txt semantics: 2xx → its rules; 4xx → no rules; 5xx and network failures are
    /// errors (the page fetch fails and is retried next round rather than crawling blindly).
    async fn fetch_robots(
        &self,
        url: &Url,
        allow_private: bool,
        shutdown: &Shutdown,
    ) -> Result<RobotsRule, Error> {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let result = tokio::select! {
            _ = shutdown.cancelled() => return Err(Error::Shutdown),
            r = self.fetch_once(&robots_url, allow_private, Want::Robots, None) => r,
        };
        match result {
            Ok(Fetched::Page(page)) => {
                // A robots.txt beyond 500 KiB is truncated (as Google does).
                let txt = &page.bytes[..page.bytes.len().min(500 * 1024)];
                match texting_robots::Robot::new(&self.cfg.user_agent, txt) {
                    Ok(r) => Ok(RobotsRule::Rules(Arc::new(r))),
                    Err(e) => {
                        warn!(url = %robots_url, error = %e, "unparsable robots.txt, treating as no rules");
                        Ok(RobotsRule::AllowAll)
                    }
                }
            }
            Ok(Fetched::NotModified) => Ok(RobotsRule::AllowAll),
            Err(Error::Status { status, .. }) if (400..500).contains(&status) => {
                Ok(RobotsRule::AllowAll)
            }
            Err(Error::ContentType { .. }) => Ok(RobotsRule::AllowAll),
            Err(e) => Err(e),
        }
    }
}

fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn accept(want: Want) -> &'static str {
    match want {
        Want::Html => "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        Want::Feed => {
            "application/rss+xml,application/atom+xml,application/rdf+xml,application/xml;q=0.9,text/xml;q=0.9,application/feed+json;q=0.8,*/*;q=0.5"
        }
        Want::Json => "application/json,text/json;q=0.9,*/*;q=0.5",
        Want::Robots => "text/plain,*/*;q=0.5",
    }
}

/// Refuse media and archives outright; accept text-like types (servers mislabel feeds as
/// text/html and JSON as text/plain all the time, so those are sniffed after download).
fn content_type_ok(want: Want, ct: &str) -> bool {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime.is_empty() {
        return true;
    }
    let textual = mime.starts_with("text/")
        || mime.contains("xml")
        || mime.contains("json")
        || mime.contains("javascript")
        || mime == "application/xhtml+xml";
    match want {
        Want::Robots => true,
        _ => textual,
    }
}

fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    // UTF-16 text has NULs too, but no crawled source serves it without a BOM.
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    head.iter().filter(|&&b| b == 0).count() > 2
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    // The server's date is compared with the wall clock on purpose: it is the server's clock
    // that the header refers to, not the pipeline's injected one.
    let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

async fn read_capped(mut resp: reqwest::Response, cap: u64, url: &Url) -> Result<Vec<u8>, Error> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() as u64 + chunk.len() as u64 > cap {
                    return Err(Error::TooLarge {
                        url: url.to_string(),
                        limit: cap,
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => return Err(classify(url, &e)),
        }
    }
}

/// Map a reqwest error, finding our guard errors in its source chain.
fn classify(url: &Url, e: &reqwest::Error) -> Error {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(g) = s.downcast_ref::<GuardError>() {
            let reason = g.0.clone();
            if reason.starts_with("redirect loop") || reason.starts_with("redirect limit") {
                return Error::TooManyRedirects {
                    url: url.to_string(),
                };
            }
            return Error::Refused {
                url: url.to_string(),
                reason,
            };
        }
        src = s.source();
    }
    if e.is_timeout() {
        return Error::Timeout {
            url: url.to_string(),
        };
    }
    if e.is_redirect() {
        return Error::TooManyRedirects {
            url: url.to_string(),
        };
    }
    let mut reason = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    Error::Network {
        url: url.to_string(),
        reason,
    }
}

/// Refuse non-http(s) URLs and IP-literal targets that are not public.
pub fn check_target(url: &Url, allow_private: bool) -> Result<(), Error> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Refused {
            url: url.to_string(),
            reason: format!("scheme {} is not crawled", url.scheme()),
        });
    }
    if allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(refused_private(url)),
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(refused_private(url)),
        Some(url::Host::Domain(d))
            if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
        {
            Err(refused_private(url))
        }
        None => Err(Error::BadUrl(url.to_string())),
        _ => Ok(()),
    }
}

fn refused_private(url: &Url) -> Error {
    Error::Refused {
        url: url.to_string(),
        reason: "private, loopback or link-local target".into(),
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18/15 benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xFE00) == 0xFC00 // unique local
                || (seg0 & 0xFFC0) == 0xFE80 // link-local
                || (seg0 == 0x2001 && v6.segments()[1] == 0x0db8)) // documentation
        }
    }
}

/// DNS resolution that drops non-public addresses, so a public name pointing at 127.0.0.1 or
/// 169.254.169.254 (DNS rebinding, hostile redirects) is refused at connect time.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(GuardError(format!(
                    "{host} resolves only to private, loopback or link-local addresses"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn build_client(cfg: &Config, allow_private: bool) -> Result<reqwest::Client, Error> {
    let max = cfg.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().iter().any(|u| u == attempt.url()) {
            return attempt.error(GuardError("redirect loop".into()));
        }
        if attempt.previous().len() > max {
            return attempt.error(GuardError("redirect limit reached".into()));
        }
        let next = attempt.url().clone();
        // An exempted source may redirect within its own host only: a permitted intranet site
        // must not become a springboard to other private addresses (cloud metadata, routers).
        let same_host = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host_str() == next.host_str());
        if let Err(e) = check_target(&next, allow_private && same_host) {
            return attempt.error(GuardError(format!("redirect target refused: {e}")));
        }
        attempt.follow()
    });
    let mut b = reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .connect_timeout(cfg.connect_timeout())
        .timeout(cfg.request_timeout())
        .redirect(policy)
        // A proxy would resolve names itself, out of reach of the SSRF guard.
        .no_proxy()
        .gzip(true);
    if !allow_private {
        b = b.dns_resolver(Arc::new(PublicOnlyResolver));
    }
    b.build()
        .map_err(|e| Error::Config(format!("http client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["202.102.192.68", "8.8.8.8", "2400:3200::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_private_targets_are_refused_unless_allowed() {
        let u = Url::parse("http://127.0.0.1:8080/feed").unwrap();
        assert!(matches!(
            check_target(&u, false),
            Err(Error::Refused { .. })
        ));
        assert!(check_target(&u, true).is_ok());
        let u = Url::parse("http://localhost/feed").unwrap();
        assert!(check_target(&u, false).is_err());
        let u = Url::parse("file:///etc/passwd").unwrap();
        assert!(check_target(&u, true).is_err());
    }

    /// Names are checked where they are resolved, so neither a redirect to a hostile name nor a
    /// DNS answer pointing inside can get through.
    #[tokio::test]
    async fn resolver_drops_private_answers() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match PublicOnlyResolver.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(err.to_string().contains("private"), "{err}");
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn content_types() {
        assert!(content_type_ok(Want::Html, "text/html; charset=gbk"));
        assert!(content_type_ok(Want::Feed, "application/rss+xml"));
        assert!(!content_type_ok(Want::Html, "image/png"));
        assert!(!content_type_ok(Want::Html, "application/octet-stream"));
        assert!(looks_binary(&[0x89, b'P', b'N', b'G', 0, 0, 0, 0x0d]));
    }
}
