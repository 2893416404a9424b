//! The append-only audit trail of a case, hash-chained so that editing, removing or reordering
//! a record is detectable: each record's hash is sha256 over the previous hash and the record's
//! canonical JSON. The case snapshot (and every case event on the bus) carries the chain's length
//! and head, so even cutting the tail off is caught.

use chrono::{DateTime, Utc};
use common::wire::{Actor, ResponseKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes a case's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub case_id: String,
    /// 1-based position in the case's trail; equals the `seq` of the matching case event.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `opened`, `assigned`, `acknowledged`, `response_recorded`, `reminder`, `breached`, ...
    pub kind: String,
    pub detail: String,
    /// Structured facts of the change (the command, old and new values).
    #[serde(default)]
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    case_id: &'a str,
    seq: u64,
    at: &'a DateTime<Utc>,
    actor: &'a Actor,
    kind: &'a str,
    detail: &'a str,
    data: &'a serde_json::Value,
}

impl AuditRecord {
    /// The hash this record must carry given its content and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let body = Hashed {
            case_id: &self.case_id,
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            kind: &self.kind,
            detail: &self.detail,
            data: &self.data,
        };
        // serde_json writes struct fields in declaration order and `Value` maps sorted (no
        // preserve_order feature), so the bytes are canonical for a given record.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(&bytes);
        hex::encode(h.finalize())
    }

    /// A sealed record following `prev_hash`.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        case_id: &str,
        seq: u64,
        at: DateTime<Utc>,
        actor: Actor,
        kind: &str,
        detail: String,
        data: serde_json::Value,
        prev_hash: &str,
    ) -> Self {
        let mut r = Self {
            case_id: case_id.to_string(),
            seq,
            at,
            actor,
            kind: kind.to_string(),
            detail,
            data,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        r
    }
}

/// How a trail fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("audit record {seq} of case {case_id} was altered (hash mismatch)")]
    Altered { case_id: String, seq: u64 },
    #[error("audit record {seq} of case {case_id} does not follow its predecessor")]
    Broken { case_id: String, seq: u64 },
    #[error("audit trail of case {case_id} has a gap or reordering at position {expected}")]
    Sequence { case_id: String, expected: u64 },
    #[error("audit trail of case {case_id} ends at {found} records, the case says {expected}")]
    Truncated {
        case_id: String,
        expected: u64,
        found: u64,
    },
    #[error("audit trail head of case {case_id} does not match the case")]
    Head { case_id: String },
}

/// Check a case's whole trail against itself and the case's sealed length and head.
pub fn verify_chain(
    case_id: &str,
    records: &[AuditRecord],
    expected_len: u64,
    expected_head: &str,
) -> Result<(), AuditError> {
    let mut prev = GENESIS.to_string();
    for (i, r) in records.iter().enumerate() {
        let expected = i as u64 + 1;
        if r.seq != expected || r.case_id != case_id {
            return Err(AuditError::Sequence {
                case_id: case_id.to_string(),
                expected,
            });
        }
        if r.prev_hash != prev {
            return Err(AuditError::Broken {
                case_id: case_id.to_string(),
                seq: r.seq,
            });
        }
        if r.compute_hash() != r.hash {
            return Err(AuditError::Altered {
                case_id: case_id.to_string(),
                seq: r.seq,
            });
        }
        prev = r.hash.clone();
    }
    if records.len() as u64 != expected_len {
        return Err(AuditError::Truncated {
            case_id: case_id.to_string(),
            expected: expected_len,
            found: records.len() as u64,
        });
    }
    if expected_len > 0 && prev != expected_head {
        return Err(AuditError::Head {
            case_id: case_id.to_string(),
        });
    }
    Ok(())
}

/// Response times of one case, derived from its trail (七.4 evaluation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseMetrics {
    pub to_acknowledgement_secs: Option<i64>,
    pub to_first_authoritative_release_secs: Option<i64>,
    pub to_press_conference_secs: Option<i64>,
    pub to_first_response_secs: Option<i64>,
    pub breaches: u64,
    pub escalations: u64,
}

/// Measure from `detected_at` (first detection) to the first record of each kind. Response
/// records carry the time the unit says it acted (`data.at`), which may precede recording.
pub fn metrics(detected_at: DateTime<Utc>, records: &[AuditRecord]) -> ResponseMetrics {
    let mut m = ResponseMetrics::default();
    let since = |t: DateTime<Utc>| Some((t - detected_at).num_seconds());
    for r in records {
        match r.kind.as_str() {
            "acknowledged" if m.to_acknowledgement_secs.is_none() => {
                m.to_acknowledgement_secs = since(r.at);
            }
            "response_recorded" => {
                let at = r
                    .data
                    .get("at")
                    .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
                    .unwrap_or(r.at);
                let kind = r
                    .data
                    .get("kind")
                    .and_then(|v| serde_json::from_value::<ResponseKind>(v.clone()).ok());
                if m.to_first_response_secs.is_none() && kind != Some(ResponseKind::Referral) {
                    m.to_first_response_secs = since(at);
                }
                if matches!(
                    kind,
                    Some(ResponseKind::AuthoritativeRelease | ResponseKind::PressConference)
                ) && m.to_first_authoritative_release_secs.is_none()
                {
                    m.to_first_authoritative_release_secs = since(at);
                }
                if kind == Some(ResponseKind::PressConference)
                    && m.to_press_conference_secs.is_none()
                {
                    m.to_press_conference_secs = since(at);
                }
            }
            "breached" => m.breaches += 1,
            "escalated" => m.escalations += 1,
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let r = AuditRecord::seal(
                    "c1",
                    seq,
                    at,
                    Actor::system(),
                    "note",
                    format!("record {seq}"),
                    serde_json::json!({"n": seq}),
                    &prev,
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(4);
        verify_chain("c1", &c, 4, &c[3].hash).unwrap();
    }

    #[test]
    fn every_kind_of_tampering_is_detected() {
        let c = chain(4);
        let head = c[3].hash.clone();

        let mut edited = c.clone();
        edited[1].detail = "rewritten".into();
        assert!(matches!(
            verify_chain("c1", &edited, 4, &head),
            Err(AuditError::Altered { seq: 2, .. })
        ));

        let mut rehashed = c.clone();
        rehashed[1].detail = "rewritten".into();
        rehashed[1].hash = rehashed[1].compute_hash();
        assert!(matches!(
            verify_chain("c1", &rehashed, 4, &head),
            Err(AuditError::Broken { seq: 3, .. })
        ));

        let mut removed = c.clone();
        removed.remove(2);
        assert!(matches!(
            verify_chain("c1", &removed, 4, &head),
            Err(AuditError::Sequence { expected: 3, .. })
        ));

        assert!(matches!(
            verify_chain("c1", &c[..3], 4, &head),
            Err(AuditError::Truncated { found: 3, .. })
        ));
        assert!(matches!(
            verify_chain("c1", &c, 4, "beef"),
            Err(AuditError::Head { .. })
        ));
    }
}
