//! Crawl state in sled, surviving restarts: seen documents, HTTP validators, exact-content
//! hashes, SimHash fingerprints and source health. Every record carries its time so that
//! [`CrawlState::expire`] can forget what is older than the configured TTL.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use common::wire::SourceHealth;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fetch::Validators;
use crate::simhash;

pub struct CrawlState {
    db: common::durable::Durable,
    seen: sled::Tree,
    validators: sled::Tree,
    content: sled::Tree,
    fingerprints: sled::Tree,
    health: sled::Tree,
    first_seen: sled::Tree,
    /// Recent fingerprints for near-duplicate search, oldest first.
    window: Mutex<VecDeque<(u64, String)>>,
    window_cap: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stamped<T> {
    at: DateTime<Utc>,
    value: T,
}

/// What dedup decided for a new item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedup {
    New,
    /// Same content as an already published document: dropped.
    Exact(String),
    /// Close to an earlier document: published, linked to it.
    Near(String),
}

impl CrawlState {
    pub fn open(path: &Path, window_cap: usize) -> Result<Self, Error> {
        let durable = common::durable::Durable::open_with(
            sled::Config::new().path(path),
            std::time::Duration::from_millis(500),
        )?;
        let db = durable.db().clone();
        let fingerprints = db.open_tree("fingerprints")?;
        let mut recent: Vec<(DateTime<Utc>, u64, String)> = Vec::new();
        for kv in fingerprints.iter() {
            let (k, v) = kv?;
            if let Ok(s) = serde_json::from_slice::<Stamped<u64>>(&v) {
                recent.push((s.at, s.value, String::from_utf8_lossy(&k).into_owned()));
            }
        }
        recent.sort_by_key(|r| r.0);
        let skip = recent.len().saturating_sub(window_cap);
        let window = recent
            .into_iter()
            .skip(skip)
            .map(|(_, fp, id)| (fp, id))
            .collect();
        Ok(Self {
            seen: db.open_tree("seen")?,
            validators: db.open_tree("validators")?,
            content: db.open_tree("content")?,
            health: db.open_tree("health")?,
            first_seen: db.open_tree("first_seen")?,
            fingerprints,
            db: durable,
            window: Mutex::new(window),
            window_cap: window_cap.max(1),
        })
    }

    pub fn is_seen(&self, doc_id: &str) -> Result<bool, Error> {
        Ok(self.seen.contains_key(doc_id)?)
    }

    pub fn mark_seen(&self, doc_id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        put(&self.seen, doc_id, &Stamped { at, value: () })
    }

    /// When an item was first detected: `now` the first time it is asked, the stored time
    /// afterwards. An item whose article fetch fails is published in a later round, but the
    /// response clock (七.4) must start at its first detection.
    pub fn first_seen(&self, doc_id: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
        if let Some(s) = get::<()>(&self.first_seen, doc_id)? {
            return Ok(s.at);
        }
        put(&self.first_seen, doc_id, &Stamped { at: now, value: () })?;
        Ok(now)
    }

    pub fn validators(&self, url: &str) -> Result<Option<Validators>, Error> {
        Ok(get::<Validators>(&self.validators, url)?.map(|s| s.value))
    }

    pub fn set_validators(
        &self,
        url: &str,
        v: &Validators,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        if v.is_empty() {
            self.validators.remove(url)?;
            return Ok(());
        }
        put(
            &self.validators,
            url,
            &Stamped {
                at,
                value: v.clone(),
            },
        )
    }

    /// Decide whether a document is new, an exact duplicate or a near-duplicate.
    pub fn dedup(
        &self,
        content_hash: &str,
        fingerprint: u64,
        max_distance: u32,
    ) -> Result<Dedup, Error> {
        if let Some(s) = get::<String>(&self.content, content_hash)? {
            return Ok(Dedup::Exact(s.value));
        }
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let near = window
            .iter()
            .rev()
            .map(|(fp, id)| (simhash::distance(*fp, fingerprint), id))
            .filter(|(d, _)| *d <= max_distance)
            .min_by_key(|(d, _)| *d)
            .map(|(_, id)| id.clone());
        Ok(near.map(Dedup::Near).unwrap_or(Dedup::New))
    }

    /// Remember a published document's content for later dedup decisions.
    pub fn remember_content(
        &self,
        doc_id: &str,
        content_hash: &str,
        fingerprint: u64,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        put(
            &self.content,
            content_hash,
            &Stamped {
                at,
                value: doc_id.to_string(),
            },
        )?;
        put(
            &self.fingerprints,
            doc_id,
            &Stamped {
                at,
                value: fingerprint,
            },
        )?;
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.push_back((fingerprint, doc_id.to_string()));
        while window.len() > self.window_cap {
            window.pop_front();
        }
        Ok(())
    }

    pub fn health(&self, source_id: &str) -> Result<Option<SourceHealth>, Error> {
        Ok(get::<SourceHealth>(&self.health, source_id)?.map(|s| s.value))
    }

    pub fn set_health(&self, h: &SourceHealth, at: DateTime<Utc>) -> Result<(), Error> {
        put(
            &self.health,
            &h.source_id,
            &Stamped {
                at,
                value: h.clone(),
            },
        )
    }

    /// Forget records older than `before`. Returns how many were removed.
    pub fn expire(&self, before: DateTime<Utc>) -> Result<usize, Error> {
        let mut removed = 0;
        for tree in [
            &self.seen,
            &self.validators,
            &self.content,
            &self.fingerprints,
        ] {
            for kv in tree.iter() {
                let (k, v) = kv?;
                let stale = serde_json::from_slice::<Stamped<serde::de::IgnoredAny>>(&v)
                    .map(|s| s.at < before)
                    .unwrap_or(true);
                if stale {
                    tree.remove(k)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    pub async fn flush(&self) -> Result<(), Error> {
        self.db.flush().await?;
        Ok(())
    }
}

fn put<T: Serialize>(tree: &sled::Tree, key: &str, value: &Stamped<T>) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::parse("state record", e))?;
    tree.insert(key.as_bytes(), bytes)?;
    Ok(())
}

fn get<T: for<'de> Deserialize<'de>>(
    tree: &sled::Tree,
    key: &str,
) -> Result<Option<Stamped<T>>, Error> {
    match tree.get(key.as_bytes())? {
        None => Ok(None),
        // A record from an older layout is treated as absent rather than failing the crawl.
        Some(v) => Ok(serde_json::from_slice(&v).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_reopen_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        {
            let s = CrawlState::open(dir.path(), 10).unwrap();
            s.mark_seen("d1", t0).unwrap();
            s.remember_content("d1", "h1", 0xFFFF, t0).unwrap();
        }
        let s = CrawlState::open(dir.path(), 10).unwrap();
        assert!(s.is_seen("d1").unwrap());
        assert_eq!(s.dedup("h1", 0, 3).unwrap(), Dedup::Exact("d1".into()));
        assert_eq!(s.dedup("h2", 0xFFFE, 3).unwrap(), Dedup::Near("d1".into()));
        assert_eq!(s.dedup("h2", 0xFF00_0000, 3).unwrap(), Dedup::New);
        assert_eq!(s.first_seen("d9", t0).unwrap(), t0);
        assert_eq!(
            s.first_seen("d9", t0 + chrono::Duration::hours(1)).unwrap(),
            t0
        );
        assert!(s.expire(t0 + chrono::Duration::days(1)).unwrap() >= 3);
        assert!(!s.is_seen("d1").unwrap());
    }
}
