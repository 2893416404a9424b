//! What a reader may see of the feed. The router decides *whether* someone may call a route
//! (see [`crate::web::access`]); this module decides *what* the answer holds for them:
//!
//! - staff (desk, leader, admin) see everything;
//! - a unit account sees its own cases and the events and items behind them, or the whole feed
//!   when `auth.units_read_whole_feed` is on; either way another unit's case ids are left out;
//! - an anonymous reader (only with `auth.public_read_api`) sees the public feed: crawled items
//!   and events, without case ids, departments in charge, unit reports, the cyberspace office's
//!   notices or the desk's names. Cases themselves are not on any route open to anonymous readers.

use std::collections::HashSet;

use common::wire::DocFlags;

use crate::auth::Current;
use crate::store::{Role, Store};
use crate::views::{EventView, ItemView, LiveItem};
use crate::{AuthConfig, Error};

/// Who is reading, with what it takes to narrow the answer.
#[derive(Debug, Clone)]
pub enum Reader {
    Staff,
    Unit {
        /// The unit's own cases and the events they cover.
        cases: HashSet<String>,
        events: HashSet<String>,
        whole_feed: bool,
    },
    Public,
}

impl Reader {
    /// The reader of a request; a unit's own cases are read from the store.
    pub fn of(store: &Store, cfg: &AuthConfig, cur: Option<&Current>) -> Result<Reader, Error> {
        let Some(cur) = cur else {
            return Ok(Reader::Public);
        };
        if cur.role() != Role::Unit {
            return Ok(Reader::Staff);
        }
        let unit = cur.user.unit_id.as_deref().unwrap_or_default();
        let mut cases = HashSet::new();
        let mut events = HashSet::new();
        for c in store.cases()? {
            if c.case.owner.id == unit {
                events.extend(c.case.event_ids.iter().cloned());
                cases.insert(c.case.case_id);
            }
        }
        Ok(Reader::Unit {
            cases,
            events,
            whole_feed: cfg.units_read_whole_feed,
        })
    }

    /// Whether the event is for this reader at all. An event that holds a unit's report or a
    /// manual intake is internal (its title may be the report's), even once crawled items join.
    pub fn sees_event(&self, v: &EventView) -> bool {
        match self {
            Reader::Public => is_public(&v.event.flags),
            _ => self.sees_event_id(&v.event.event_id),
        }
    }

    fn sees_event_id(&self, event_id: &str) -> bool {
        match self {
            Reader::Staff | Reader::Public => true,
            Reader::Unit {
                events, whole_feed, ..
            } => *whole_feed || events.contains(event_id),
        }
    }

    /// Whether the item is for this reader at all: unit reports and manual intake are internal.
    pub fn sees_item(&self, item: &ItemView) -> bool {
        match self {
            Reader::Public => is_public(&item.doc.flags),
            _ => self.sees_event_id(&item.doc.event_id),
        }
    }

    /// The events a unit is limited to (`None`: no limit).
    pub fn only_events(&self) -> Option<&HashSet<String>> {
        match self {
            Reader::Unit {
                events,
                whole_feed: false,
                ..
            } => Some(events),
            _ => None,
        }
    }

    /// An event as this reader gets it.
    pub fn event(&self, mut v: EventView) -> EventView {
        match self {
            Reader::Staff => v,
            Reader::Unit { cases, .. } => {
                v.case_ids.retain(|c| cases.contains(c));
                v
            }
            Reader::Public => public_event(v),
        }
    }

    /// An item as this reader gets it.
    pub fn item(&self, v: ItemView) -> ItemView {
        match self {
            Reader::Public => public_item(v),
            _ => v,
        }
    }
}

/// Crawled items are public; what a unit reported or someone typed in is not.
pub fn is_public(flags: &DocFlags) -> bool {
    !flags.manual && flags.reported_by_unit.is_none()
}

/// The anonymous shape of an event: no cases, no department in charge, no internal flags, and
/// the desk's judgement without who made it or why.
pub fn public_event(mut v: EventView) -> EventView {
    v.case_ids.clear();
    v.event.department = None;
    v.event.flags = DocFlags::default();
    if let Some(j) = v.judgement.as_mut() {
        j.by.clear();
        j.note.clear();
    }
    v
}

/// The anonymous shape of an item (see [`public_event`]).
pub fn public_item(mut v: ItemView) -> ItemView {
    v.doc.department = None;
    v.doc.flags = DocFlags::default();
    v.notified_at = None;
    v
}

/// The anonymous shape of a live item; `None` when the item is not public at all.
pub fn public_live_item(v: &LiveItem) -> Option<LiveItem> {
    if !is_public(&v.flags) {
        return None;
    }
    let mut v = v.clone();
    v.flags = DocFlags::default();
    v.notified_at = None;
    Some(v)
}

/// Whether `unit` owns a case about `event_id` (the live stream asks per message).
pub fn unit_owns_event(store: &Store, unit: &str, event_id: &str) -> Result<bool, Error> {
    for case_id in store.cases_of_event(event_id)? {
        if store
            .case(&case_id)?
            .is_some_and(|c| c.case.owner.id == unit)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
