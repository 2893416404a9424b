//! Delivering outbox items: generic webhook, DingTalk robot, WeCom robot, SMTP.
//!
//! Message formats are plain functions (testable without a network); [`ChannelSender`] does the
//! IO. Every delivery carries the outbox item id (`Idempotency-Key` header, e-mail Message-ID)
//! so a receiver can drop the one duplicate a crash between sending and recording can cause.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::config::{Channel, ChannelKind, SmtpTls};
use crate::store::OutboxItem;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("channel {0} is misconfigured: {1}")]
    Config(String, String),
    #[error("http: {0}")]
    Http(String),
    #[error("receiver refused: {0}")]
    Refused(String),
    #[error("smtp: {0}")]
    Smtp(String),
}

/// Delivers one item through one channel. The real implementation is [`ChannelSender`]; tests
/// may substitute a fake.
#[async_trait]
pub trait Deliver: Send + Sync + 'static {
    async fn deliver(
        &self,
        channel: &Channel,
        item: &OutboxItem,
        now: DateTime<Utc>,
    ) -> Result<(), SendError>;
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// DingTalk custom-robot signature (加签): base64(HmacSHA256(secret, "{timestamp}\n{secret}")),
/// timestamp in milliseconds; the receiver rejects timestamps more than an hour off.
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), to_sign.as_bytes()))
}

/// Signature of a generic webhook body: hex HMAC-SHA256 with the channel secret.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// The last line of a robot or mail message: the case id, or for a notification that is not
/// about a case, nothing (its link is already in the text).
fn reference(item: &OutboxItem) -> String {
    if item.case_id.is_empty() {
        String::new()
    } else {
        format!("\n\n> {}", item.case_id)
    }
}

pub fn webhook_body(item: &OutboxItem) -> serde_json::Value {
    let mut body = json!({
        "id": item.id,
        "case_id": item.case_id,
        "seq": item.seq,
        "recipients": item.notice.recipients,
        "subject": item.notice.subject,
        "text": item.notice.text,
        "created_at": item.created_at,
    });
    if let Some(kind) = &item.kind {
        body["kind"] = json!(kind);
    }
    if let Some(link) = &item.link {
        body["link"] = json!(link);
    }
    body
}

pub fn dingtalk_body(item: &OutboxItem) -> serde_json::Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": item.notice.subject,
            "text": format!("### {}\n\n{}{}", item.notice.subject, item.notice.text, reference(item)),
        }
    })
}

/// WeCom robot markdown is limited to 4096 bytes; longer text is cut at a char boundary.
pub fn wecom_body(item: &OutboxItem) -> serde_json::Value {
    let mut content = format!(
        "**{}**\n{}{}",
        item.notice.subject,
        item.notice.text,
        reference(item).replacen("\n\n", "\n", 1)
    );
    if content.len() > 4096 {
        let mut cut = 4096;
        while !content.is_char_boundary(cut) {
            cut -= 1;
        }
        content.truncate(cut);
    }
    json!({ "msgtype": "markdown", "markdown": { "content": content } })
}

/// The real sender: HTTP through reqwest, mail through lettre.
pub struct ChannelSender {
    http: reqwest::Client,
    timeout: Duration,
}

impl ChannelSender {
    pub fn new(timeout: Duration) -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| SendError::Http(e.to_string()))?;
        Ok(Self { http, timeout })
    }

    fn url(channel: &Channel) -> Result<&str, SendError> {
        channel
            .url
            .as_deref()
            .ok_or_else(|| SendError::Config(channel.name.clone(), "url is required".into()))
    }

    async fn post(&self, req: reqwest::RequestBuilder, robot: bool) -> Result<(), SendError> {
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(SendError::Refused(format!("http {status}: {body}")));
        }
        if robot {
            // Robots answer 200 with an errcode; anything but 0 is a refusal.
            let v: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| SendError::Refused(format!("unreadable answer {body:?}: {e}")))?;
            if v.get("errcode").and_then(|c| c.as_i64()) != Some(0) {
                return Err(SendError::Refused(body));
            }
        }
        Ok(())
    }

    async fn smtp(&self, channel: &Channel, item: &OutboxItem) -> Result<(), SendError> {
        use lettre::message::{Mailbox, header::ContentType};
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

        let cfg_err = |m: String| SendError::Config(channel.name.clone(), m);
        let host = channel
            .smtp_host
            .as_deref()
            .ok_or_else(|| cfg_err("smtp_host is required".into()))?;
        let from: Mailbox = channel
            .from
            .as_deref()
            .ok_or_else(|| cfg_err("from is required".into()))?
            .parse()
            .map_err(|e| cfg_err(format!("from: {e}")))?;
        if channel.to.is_empty() {
            return Err(cfg_err("to is empty".into()));
        }
        let mut builder = Message::builder()
            .from(from)
            .subject(item.notice.subject.clone())
            .message_id(Some(format!(
                "<{}@yuqing>",
                item.id.replace([':', ' '], ".")
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &channel.to {
            builder = builder.to(to.parse().map_err(|e| cfg_err(format!("to {to}: {e}")))?);
        }
        let message = builder
            .body(if item.case_id.is_empty() {
                format!("{}\n", item.notice.text)
            } else {
                format!("{}\n\n案件:{}\n", item.notice.text, item.case_id)
            })
            .map_err(|e| SendError::Smtp(e.to_string()))?;
        let mut transport = match channel.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| SendError::Smtp(e.to_string()))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| SendError::Smtp(e.to_string()))?,
        }
        .timeout(Some(self.timeout));
        if let Some(port) = channel.smtp_port {
            transport = transport.port(port);
        }
        if let (Some(user), Some(pass)) = (&channel.smtp_user, &channel.smtp_password) {
            transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        transport
            .build()
            .send(message)
            .await
            .map_err(|e| SendError::Smtp(e.to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl Deliver for ChannelSender {
    async fn deliver(
        &self,
        channel: &Channel,
        item: &OutboxItem,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(&webhook_body(item)).unwrap_or_default();
                let mut req = self
                    .http
                    .post(Self::url(channel)?)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &item.id);
                if let Some(secret) = &channel.secret {
                    req = req.header("x-yuqing-signature", webhook_signature(secret, &body));
                }
                self.post(req.body(body), false).await
            }
            ChannelKind::Dingtalk => {
                let mut req = self
                    .http
                    .post(Self::url(channel)?)
                    .json(&dingtalk_body(item));
                if let Some(secret) = &channel.secret {
                    let ts = now.timestamp_millis();
                    req = req.query(&[
                        ("timestamp", ts.to_string()),
                        ("sign", dingtalk_sign(ts, secret)),
                    ]);
                }
                self.post(req, true).await
            }
            ChannelKind::Wecom => {
                let req = self.http.post(Self::url(channel)?).json(&wecom_body(item));
                self.post(req, true).await
            }
            ChannelKind::Smtp => self.smtp(channel, item).await,
        }
    }
}

/// Retry delay after `attempts` failures: doubling from the initial delay up to the cap.
pub fn backoff(initial_secs: f64, max_secs: f64, attempts: u32) -> chrono::Duration {
    let secs = (initial_secs * 2f64.powi(attempts.saturating_sub(1).min(30) as i32)).min(max_secs);
    chrono::Duration::milliseconds((secs.max(0.0) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signature_matches_the_documented_algorithm() {
        // Recomputed independently: HmacSHA256 over "ts\nsecret" keyed by the secret, base64.
        let sig = dingtalk_sign(1_700_000_000_000, "SECabc");
        let raw = hmac_sha256(b"SECabc", b"1700000000000\nSECabc");
        assert_eq!(sig, base64::engine::general_purpose::STANDARD.encode(raw));
        assert_eq!(sig.len(), 44);
        assert_ne!(sig, dingtalk_sign(1_700_000_000_001, "SECabc"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = |a| backoff(2.0, 60.0, a).num_seconds();
        assert_eq!([s(1), s(2), s(3), s(5), s(10)], [2, 4, 8, 32, 60]);
    }
}
