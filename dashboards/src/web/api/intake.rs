//! Intake of emergencies a unit reports before they spread online (七.3).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::topics;
use common::wire::{DocFlags, Envelope, RawDocument, SourceKind, new_message_id};
use serde::Deserialize;

use super::{ApiResult, publish_counted, required};
use crate::store::Role;
use crate::web::ApiError;
use crate::web::access::SignedIn;
use crate::{SharedState, views};

#[derive(Debug, Deserialize)]
pub struct Intake {
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    reported_by_unit: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// An emergency a unit reports before it spreads online (七.3): it enters the pipeline like a
/// crawled item, flagged so propaganda and cyberspace desks are notified.
pub async fn report(
    State(state): State<SharedState>,
    SignedIn(cur): SignedIn,
    Json(req): Json<Intake>,
) -> ApiResult<Response> {
    required("标题", &req.title)?;
    // A unit reports in its own name only; the desk records on behalf of the named unit.
    let unit = if cur.role() == Role::Unit {
        cur.user.unit_id.clone()
    } else {
        req.reported_by_unit.filter(|u| !u.trim().is_empty())
    };
    let unit = unit.ok_or_else(|| ApiError::BadRequest("请选择报送单位".into()))?;
    let url = req.url.filter(|u| !u.trim().is_empty());
    if url.is_some() && views::safe_link(url.as_deref()).is_none() {
        return Err(ApiError::BadRequest("链接须为 http(s) 地址".into()));
    }
    let district = req.district.filter(|d| !d.trim().is_empty());
    let mut body = req.body.trim().to_string();
    if let Some(d) = &district
        && !body.contains(d.as_str())
        && !req.title.contains(d.as_str())
    {
        // The analyzer finds places in the text; name the district so the owner rule applies.
        body = format!("（{d}）{body}");
    }
    let now = state.ctx.clock.now();
    let doc_id = format!("intake:{}", new_message_id());
    let raw = RawDocument {
        doc_id: doc_id.clone(),
        source_id: "unit-intake".into(),
        source_kind: SourceKind::Manual,
        url,
        title: req.title.trim().to_string(),
        body,
        published_at: Some(now),
        fetched_at: now,
        author: Some(cur.user.name.clone()),
        site_name: Some("单位报送".into()),
        tags: district.into_iter().collect(),
        source_weight: 1.0,
        flags: DocFlags {
            notified_by_cyberspace_office: false,
            reported_by_unit: Some(unit),
            manual: true,
        },
        ..RawDocument::default()
    };
    let env = Envelope::new(raw.doc_id.clone(), now, raw);
    publish_counted(&state, topics::RAW_DOCUMENTS, &env.payload.source_id, &env).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "doc_id": doc_id })),
    )
        .into_response())
}
