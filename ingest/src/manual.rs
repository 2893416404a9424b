//! Manual intake (seed 七.3): items notified by the cyberspace office (网信部门通报) and
//! emergencies a unit reports before they spread online enter the same pipeline as crawled
//! items, flagged. [`submit`] is the library entry; [`router`] exposes it as
//! `POST /api/intake` for whichever process serves HTTP.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use common::wire::{DocFlags, RawDocument, SourceKind};
use common::{Envelope, StageContext, topics};
use serde::{Deserialize, Serialize};

use crate::canon;
use crate::error::Error;
use crate::extract::html_to_text;
use crate::simhash;

/// The source id manual items carry.
pub const MANUAL_SOURCE_ID: &str = "manual";

/// Longest body accepted, in characters.
const MAX_BODY_CHARS: usize = 100_000;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManualItem {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub url: Option<String>,
    /// Where it was seen (outlet, account, office notice number).
    #[serde(default)]
    pub source_name: Option<String>,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notified_by_cyberspace_office: bool,
    /// The reporting unit's id, for an emergency reported before it spreads online.
    #[serde(default)]
    pub reported_by_unit: Option<String>,
    /// The submitter's own id for the item: submitting it twice yields one document.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Validate, publish to the raw-document topic, return the document id.
pub async fn submit(ctx: &StageContext, item: ManualItem) -> Result<String, Error> {
    let title = crate::extract::normalize_space(&item.title);
    let body = if item.body.contains('<') {
        html_to_text(&item.body)
    } else {
        item.body.trim().to_string()
    };
    if title.is_empty() {
        return Err(Error::parse("manual item", "title is empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Error::parse(
            "manual item",
            format!("body exceeds {MAX_BODY_CHARS} characters"),
        ));
    }
    let canonical = item.url.as_deref().and_then(canon::canonical_url);
    let doc_id = match (&item.reference, &canonical) {
        (Some(r), _) => canon::doc_id_for_guid(MANUAL_SOURCE_ID, r),
        (None, Some(c)) => canon::doc_id_for_url(c),
        (None, None) => {
            canon::doc_id_for_guid(MANUAL_SOURCE_ID, &simhash::content_hash(&title, &body))
        }
    };
    let now = ctx.clock.now();
    let doc = RawDocument {
        doc_id: doc_id.clone(),
        source_id: MANUAL_SOURCE_ID.to_string(),
        source_kind: SourceKind::Manual,
        url: item.url.clone(),
        fingerprint: Some(simhash::simhash(&format!("{title}\n{body}"))),
        title,
        body,
        published_at: item.published_at,
        fetched_at: now,
        site_name: item.source_name.clone(),
        tags: item.tags.clone(),
        source_weight: 1.0,
        flags: DocFlags {
            notified_by_cyberspace_office: item.notified_by_cyberspace_office,
            reported_by_unit: item.reported_by_unit.clone(),
            manual: true,
        },
        ..RawDocument::default()
    };
    let env = Envelope::new(doc_id.clone(), now, doc);
    common::bus::publish(
        ctx.bus.as_ref(),
        topics::RAW_DOCUMENTS,
        MANUAL_SOURCE_ID,
        &env,
    )
    .await?;
    tracing::info!(doc_id = %doc_id, "manual item published");
    Ok(doc_id)
}

/// `POST /api/intake` with a JSON [`ManualItem`] → `201 {"doc_id": ...}`; `400` with the
/// reason for an invalid item, `503` when the bus is unavailable.
pub fn router(ctx: StageContext) -> axum::Router {
    axum::Router::new()
        .route("/api/intake", axum::routing::post(intake))
        .with_state(ctx)
}

async fn intake(State(ctx): State<StageContext>, Json(item): Json<ManualItem>) -> Response {
    match submit(&ctx, item).await {
        Ok(doc_id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "doc_id": doc_id })),
        )
            .into_response(),
        Err(e) => {
            let status = if e.is_retryable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn flagged_items_are_published_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let bus: common::SharedBus =
            Arc::new(common::bus::EmbeddedBus::open(dir.path(), "", 100).unwrap());
        let at: DateTime<Utc> = "2026-11-26T08:00:00Z".parse().unwrap();
        let ctx = StageContext {
            bus: bus.clone(),
            clock: Arc::new(common::clock::ManualClock::new(at)),
            data_dir: dir.path().to_path_buf(),
        };
        let item = ManualItem {
            title: "网信通报：某小区燃气泄漏传言".into(),
            body: "<p>网传某小区燃气泄漏致多人受伤，请核实。</p>".into(),
            url: None,
            source_name: Some("市网信办通报〔2026〕12号".into()),
            published_at: None,
            notified_by_cyberspace_office: true,
            reported_by_unit: None,
            reference: Some("WX-2026-12".into()),
            tags: vec![],
        };
        let a = submit(&ctx, item.clone()).await.unwrap();
        let b = submit(&ctx, item).await.unwrap();
        assert_eq!(a, b, "same reference, same document id");
        let mut sub = bus.subscribe(topics::RAW_DOCUMENTS, "t").await.unwrap();
        let env = Envelope::<RawDocument>::decode(&sub.recv().await.unwrap().payload).unwrap();
        assert_eq!(env.message_id, a);
        assert_eq!(env.payload.body, "网传某小区燃气泄漏致多人受伤，请核实。");
        assert!(env.payload.flags.notified_by_cyberspace_office && env.payload.flags.manual);
        assert_eq!(env.payload.source_kind, SourceKind::Manual);
        assert_eq!(env.payload.fetched_at, at);
        let empty = ManualItem {
            title: " ".into(),
            ..serde_json::from_str(r#"{"title":"x"}"#).unwrap()
        };
        assert!(submit(&ctx, empty).await.is_err());
    }
}
