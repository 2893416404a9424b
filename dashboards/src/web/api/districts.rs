//! The district grid: per locality of the city, the last day's items and negative items, the
//! events active in it and their top heat, and the open and breached cases about it.
//!
//! Everything is counted where it happens, by jurisdiction: an item and an event by their own,
//! a case by its events'. A case about 南明区 that the city education bureau owns counts for
//! 南明区, like the items that raised it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use common::wire::SentimentLabel;
use serde::Serialize;

use super::ApiResult;
use crate::store::county_of;
use crate::web::access::Caller;
use crate::{SharedState, views};

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct DistrictCell {
    district: String,
    items_24h: u64,
    negative_24h: u64,
    events_active: u64,
    max_heat: f64,
    open_cases: u64,
    breached_cases: u64,
}

/// One thing the grid counts, with the locality it is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen {
    Item { negative: bool },
    Event { heat: f64 },
    OpenCase { breached: bool },
}

/// The grid, one cell per configured district in display order; things about a locality that is
/// not on the grid (another city, a township list that drifted) are left out.
pub fn tally<'a>(
    districts: &[String],
    seen: impl IntoIterator<Item = (&'a str, Seen)>,
) -> Vec<DistrictCell> {
    let mut cells: Vec<DistrictCell> = districts
        .iter()
        .map(|d| DistrictCell {
            district: d.clone(),
            items_24h: 0,
            negative_24h: 0,
            events_active: 0,
            max_heat: 0.0,
            open_cases: 0,
            breached_cases: 0,
        })
        .collect();
    for (district, what) in seen {
        let Some(c) = cells.iter_mut().find(|c| c.district == district) else {
            continue;
        };
        match what {
            Seen::Item { negative } => {
                c.items_24h += 1;
                c.negative_24h += u64::from(negative);
            }
            Seen::Event { heat } => {
                c.events_active += 1;
                c.max_heat = c.max_heat.max(heat);
            }
            Seen::OpenCase { breached } => {
                c.open_cases += 1;
                c.breached_cases += u64::from(breached);
            }
        }
    }
    cells
}

/// How long one computation of the district grid is shared by every viewer: it scans a day of
/// items, and a hundred open desks should not each do that on every case change.
const DISTRICTS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn grid(
    State(state): State<SharedState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<DistrictCell>>> {
    let cached = state
        .metrics
        .districts_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(at, _)| at.elapsed() < DISTRICTS_TTL)
        .map(|(_, cells)| cells.clone());
    if let Some(cells) = cached {
        return Ok(Json(cells));
    }
    let cells = compute(&state)?;
    *state
        .metrics
        .districts_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), cells.clone()));
    Ok(Json(cells))
}

/// Read what the grid counts from the read model.
fn compute(state: &SharedState) -> ApiResult<Vec<DistrictCell>> {
    let now = state.ctx.clock.now();
    let since = now - Duration::hours(24);
    // Recent items only: the newest-first scan stops soon after the first item older than a day.
    let items = state
        .store
        .recent_items(since, Duration::hours(1), 200_000)?;
    let events = state.store.events()?;
    let cases = state.store.cases()?;
    let event_district: HashMap<&str, &str> = events
        .iter()
        .filter_map(|e| Some((e.event.event_id.as_str(), county_of(&e.event.jurisdiction)?)))
        .collect();
    let mut seen: Vec<(&str, Seen)> = Vec::new();
    for item in &items {
        if let Some(d) = county_of(&item.doc.jurisdiction) {
            let negative = item.doc.sentiment.label == SentimentLabel::Negative;
            seen.push((d, Seen::Item { negative }));
        }
    }
    for ev in &events {
        if ev.event.last_seen_at >= since
            && let Some(d) = county_of(&ev.event.jurisdiction)
        {
            seen.push((
                d,
                Seen::Event {
                    heat: ev.event.heat,
                },
            ));
        }
    }
    for case in cases.iter().filter(|c| c.case.state.is_open()) {
        // A merged case has several events; it counts once, for the first that has a locality.
        if let Some(d) = case
            .case
            .event_ids
            .iter()
            .find_map(|e| event_district.get(e.as_str()).copied())
        {
            let v = views::case_view(case, now, state.config.ui.near_due_minutes);
            let breached = v.status == views::DueStatus::Breached;
            seen.push((d, Seen::OpenCase { breached }));
        }
    }
    Ok(tally(&state.config.ui.districts, seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_own_cell_only() {
        let districts = ["南明区", "云岩区", "花溪区"].map(String::from);
        let cells = tally(
            &districts,
            [
                ("南明区", Seen::Item { negative: true }),
                ("南明区", Seen::Item { negative: false }),
                ("花溪区", Seen::Event { heat: 3.0 }),
                ("花溪区", Seen::Event { heat: 7.5 }),
                ("南明区", Seen::OpenCase { breached: true }),
                ("云岩区", Seen::OpenCase { breached: false }),
                // Not on the grid: a locality of another city, and a name that merely contains
                // a district's name.
                ("遵义市", Seen::Item { negative: true }),
                ("南明区某街道", Seen::OpenCase { breached: true }),
            ],
        );
        let row = |d: &str| {
            let c = cells.iter().find(|c| c.district == d).expect("cell");
            (
                c.items_24h,
                c.negative_24h,
                c.events_active,
                c.max_heat,
                c.open_cases,
                c.breached_cases,
            )
        };
        assert_eq!(
            cells
                .iter()
                .map(|c| c.district.as_str())
                .collect::<Vec<_>>(),
            ["南明区", "云岩区", "花溪区"],
            "display order"
        );
        assert_eq!(row("南明区"), (2, 1, 0, 0.0, 1, 1));
        assert_eq!(row("云岩区"), (0, 0, 0, 0.0, 1, 0));
        assert_eq!(row("花溪区"), (0, 0, 2, 7.5, 0, 0));
    }
}
