//! Login throttling and who the client is.
//!
//! Failed logins are counted per (account, client address): after `auth.login_max_failures`
//! failures each further attempt from that client waits `auth.login_delay_seconds`, doubling
//! with every failure up to `auth.login_max_delay_minutes`. A stranger's failures therefore slow
//! the stranger only: the account's owner, at another address, logs in as usual. A pair is
//! forgotten `auth.login_window_minutes` after its last failure, or at once on a success.
//!
//! The client address is the peer's, or, when the peer is one of `auth.trusted_proxies`, the
//! nearest untrusted address of `X-Forwarded-For`. From anyone else the header is ignored, so a
//! client cannot shake off its throttle by inventing addresses.
//!
//! Memory is bounded by `auth.login_tracked_keys`. Past it the oldest pair is forgotten first,
//! and pairs that are not (yet) throttled before throttled ones, so spraying random names turns
//! over the sprayer's own one-failure pairs and never frees a throttled pair.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

use crate::{AuthConfig, Error};

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`10.0.0.5`) or networks (`10.0.0.0/8`); a mistyped entry fails the start.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, Error> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        Error::BadRequest(format!(
                            "auth.trusted_proxies: {e:?} is not an IP address or network"
                        ))
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request that came from `peer`: walking `X-Forwarded-For` from the right
    /// (each proxy appends the address it received from), the first address that is not a
    /// trusted proxy. A malformed entry stops the walk at the last address vouched for.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:1.2.3.4`) is that IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    last_failure: DateTime<Utc>,
    /// No attempt before this.
    until: DateTime<Utc>,
    /// Place in the eviction order.
    rank: Rank,
}

/// Eviction order: pairs below the threshold before throttled ones, then the oldest first.
type Rank = (bool, u64);

#[derive(Default)]
struct Pairs {
    entries: HashMap<String, Entry>,
    order: BTreeMap<Rank, String>,
    next: u64,
}

impl Pairs {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.entries.remove(key)?;
        self.order.remove(&e.rank);
        Some(e)
    }
}

/// Failed logins per (account, client address), with growing delays.
pub struct LoginLimiter {
    free: u32,
    window: Duration,
    first_delay: Duration,
    max_delay: Duration,
    capacity: usize,
    pairs: Mutex<Pairs>,
}

impl LoginLimiter {
    pub fn new(cfg: &AuthConfig) -> Self {
        let max_delay = Duration::minutes(cfg.login_max_delay_minutes.max(1));
        LoginLimiter {
            free: cfg.login_max_failures.max(1),
            window: Duration::minutes(cfg.login_window_minutes.max(1)),
            first_delay: Duration::seconds(cfg.login_delay_seconds.max(1)).min(max_delay),
            max_delay,
            capacity: cfg.login_tracked_keys.max(1),
            pairs: Mutex::new(Pairs::default()),
        }
    }

    /// The key of one account tried from one client.
    pub fn key(account: &str, client: IpAddr) -> String {
        // The separator cannot occur in an account name (control characters are refused).
        format!("{account}\u{0}{}", canonical(client))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pairs> {
        self.pairs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, e: &Entry, now: DateTime<Utc>) -> bool {
        now >= e.last_failure + self.window && now >= e.until
    }

    /// How long `key` must still wait before its next attempt, if at all.
    pub fn wait(&self, key: &str, now: DateTime<Utc>) -> Option<Duration> {
        let mut pairs = self.lock();
        let e = pairs.entries.get(key)?;
        if self.expired(e, now) {
            pairs.remove(key);
            return None;
        }
        (e.until > now).then(|| e.until - now)
    }

    /// Count a failure of `key`; from the `login_max_failures`-th on, the next attempt waits.
    pub fn fail(&self, key: &str, now: DateTime<Utc>) {
        let mut pairs = self.lock();
        let failures = match pairs.remove(key) {
            Some(e) if !self.expired(&e, now) => e.failures.saturating_add(1),
            _ => 1,
        };
        let until = if failures >= self.free {
            // 2^16 times the first delay is past any sensible cap: stop doubling there.
            let doublings = (failures - self.free).min(16);
            now + (self.first_delay * 2i32.pow(doublings)).min(self.max_delay)
        } else {
            now
        };
        while pairs.entries.len() >= self.capacity {
            let Some((_, oldest)) = pairs.order.pop_first() else {
                break;
            };
            pairs.entries.remove(&oldest);
        }
        let rank = (failures >= self.free, pairs.next);
        pairs.next += 1;
        pairs.order.insert(rank, key.to_string());
        pairs.entries.insert(
            key.to_string(),
            Entry {
                failures,
                last_failure: now,
                until,
                rank,
            },
        );
    }

    pub fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Pairs held (bounded by `auth.login_tracked_keys`).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// "30 秒" or "2 分钟", rounded up: how long a throttled client is told to wait.
pub fn wait_text(d: Duration) -> String {
    let secs = ((d.num_milliseconds() + 999) / 1000).max(1);
    if secs < 120 {
        format!("{secs} 秒")
    } else {
        format!("{} 分钟", (secs + 59) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(free: u32, capacity: usize) -> LoginLimiter {
        LoginLimiter::new(&AuthConfig {
            login_max_failures: free,
            login_window_minutes: 15,
            login_delay_seconds: 30,
            login_max_delay_minutes: 15,
            login_tracked_keys: capacity,
            ..AuthConfig::default()
        })
    }

    fn t0() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().expect("time")
    }

    #[test]
    fn delays_grow_then_stop_at_the_cap() {
        let l = limiter(3, 100);
        let now = t0();
        for _ in 0..2 {
            l.fail("k", now);
            assert_eq!(l.wait("k", now), None, "free failures");
        }
        let mut waits = Vec::new();
        for _ in 0..8 {
            l.fail("k", now);
            waits.push(l.wait("k", now).map(|d| d.num_seconds()));
        }
        assert_eq!(
            waits,
            [30, 60, 120, 240, 480, 900, 900, 900].map(Some),
            "doubling up to 15 minutes"
        );
        assert_eq!(
            l.wait("k", now + Duration::seconds(899))
                .map(|d| d.num_seconds()),
            Some(1)
        );
        assert_eq!(l.wait("other", now), None);
        // Quiet for the window after the last delay: forgotten, the next failure is free.
        let later = now + Duration::minutes(15);
        assert_eq!(l.wait("k", later), None);
        l.fail("k", later);
        assert_eq!(l.wait("k", later), None);
        l.succeed("k");
        assert!(l.is_empty());
    }

    #[test]
    fn past_its_capacity_it_forgets_the_oldest_first() {
        let l = limiter(5, 3);
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            l.fail(k, t0() + Duration::seconds(i as i64));
        }
        assert_eq!(l.len(), 3);
        let held = |k: &str| l.lock().entries.contains_key(k);
        assert!(!held("a") && held("b") && held("c") && held("d"));
        // A failure makes a pair young again.
        l.fail("b", t0() + Duration::seconds(10));
        l.fail("e", t0() + Duration::seconds(11));
        assert!(held("b") && !held("c") && held("d") && held("e"));
    }

    #[test]
    fn spraying_names_never_frees_a_throttled_pair() {
        let l = limiter(5, 100);
        let now = t0();
        for _ in 0..5 {
            l.fail("desk1", now);
        }
        assert!(l.wait("desk1", now).is_some());
        for i in 0..10_000 {
            l.fail(&format!("random-{i}"), now + Duration::milliseconds(i));
        }
        assert_eq!(l.len(), 100, "bounded");
        assert!(l.wait("desk1", now).is_some(), "still throttled");
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).expect("parse");
        let headers = |xff: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", xff.parse().expect("header"));
            h
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            // (peer, X-Forwarded-For, client)
            ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
            ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
            (
                "10.1.2.3",
                "6.6.6.6, 198.51.100.1, 10.9.9.9",
                "198.51.100.1",
            ),
            ("192.0.2.1", "198.51.100.1:4711", "198.51.100.1"),
            ("10.1.2.3", "garbage, 198.51.100.1", "198.51.100.1"),
            ("10.1.2.3", "198.51.100.1, garbage", "10.1.2.3"),
            ("10.1.2.3", "10.4.4.4", "10.4.4.4"),
            ("::ffff:10.1.2.3", "2001:db8::1", "2001:db8::1"),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(
                proxies.client(ip(peer), &headers(xff)),
                ip(want),
                "{peer} {xff}"
            );
        }
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn waits_read_in_seconds_then_minutes() {
        assert_eq!(wait_text(Duration::seconds(30)), "30 秒");
        assert_eq!(wait_text(Duration::milliseconds(29_100)), "30 秒");
        assert_eq!(wait_text(Duration::seconds(900)), "15 分钟");
    }
}
