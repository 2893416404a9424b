//! Intake of emergencies a unit reports before they spread online (七.3).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::wire::{DocFlags, Envelope, RawDocument, SourceKind, new_message_id};
use common::{commands, topics};
use serde::Deserialize;

use super::{ApiResult, publish_counted};
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
    let invalid = |r: commands::Refusal| ApiError::Invalid(r.0);
    commands::required_text("标题", &req.title, commands::TITLE_MAX_CHARS).map_err(invalid)?;
    commands::limited_text("情况说明", &req.body, commands::TEXT_MAX_CHARS).map_err(invalid)?;
    // A unit reports in its own name only; the desk records on behalf of the named unit.
    let unit = if cur.role() == Role::Unit {
        cur.user.unit_id.clone()
    } else {
        req.reported_by_unit.filter(|u| !u.trim().is_empty())
    };
    let unit = unit.ok_or_else(|| ApiError::Invalid("请选择报送单位".into()))?;
    if !state.store.registry_knows(&unit)? {
        return Err(ApiError::Invalid(format!("报送单位“{unit}”不在单位名录中")));
    }
    let url = req.url.filter(|u| !u.trim().is_empty());
    if let Some(u) = &url {
        commands::web_link("链接", u).map_err(invalid)?;
        if views::safe_link(Some(u)).is_none() {
            return Err(ApiError::Invalid("链接须为 http(s) 地址".into()));
        }
    }
    let district = req.district.filter(|d| !d.trim().is_empty());
    // The place decides the owner (属地管理): only the city's own localities are accepted.
    if let Some(d) = &district
        && !state.config.ui.districts.iter().any(|x| x == d.trim())
    {
        return Err(ApiError::Invalid(format!(
            "区（市、县）须为{}之一",
            state.config.ui.districts.join("、")
        )));
    }
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
