//! Who is calling (`/api/me`, with the settings the pages need) and the units one can name.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ApiResult;
use crate::SharedState;
use crate::web::access::Caller;

#[derive(Serialize)]
pub struct Me {
    user: Option<String>,
    role: Option<&'static str>,
    role_label: Option<&'static str>,
    unit_id: Option<String>,
    unit_name: Option<String>,
    /// Sent back as `X-CSRF-Token` on writes. Only same-origin script can read this response.
    csrf: Option<String>,
    public_read_api: bool,
    near_due_minutes: i64,
    utc_offset_hours: i32,
    districts: Vec<String>,
    server_now: DateTime<Utc>,
}

pub async fn me(State(state): State<SharedState>, Caller(cur): Caller) -> ApiResult<Json<Me>> {
    let units = state.store.units()?;
    let unit_id = cur.as_ref().and_then(|c| c.user.unit_id.clone());
    Ok(Json(Me {
        user: cur.as_ref().map(|c| c.user.name.clone()),
        role: cur.as_ref().map(|c| c.role().as_str()),
        role_label: cur.as_ref().map(|c| c.role().label_zh()),
        unit_name: unit_id
            .as_ref()
            .and_then(|u| units.iter().find(|x| &x.id == u).map(|x| x.name.clone())),
        unit_id,
        csrf: cur.as_ref().map(|c| c.session.csrf.clone()),
        public_read_api: state.config.auth.public_read_api,
        near_due_minutes: state.config.ui.near_due_minutes,
        utc_offset_hours: state.config.ui.utc_offset_hours,
        districts: state.config.ui.districts.clone(),
        server_now: state.ctx.clock.now(),
    }))
}

pub async fn units(
    State(state): State<SharedState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<common::wire::UnitRef>>> {
    Ok(Json(state.store.units()?))
}
