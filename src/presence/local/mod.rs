//! This object's own sessions and sockets, and their counts: whatever role the object has, it
//! holds these. Every change is applied to all three together (a session joins, moves, goes
//! away, ends; a socket opens, carries a session, closes, falls silent), and what it means
//! elsewhere comes out as data: rows to write, sockets to close, and [`EntityEvent`]s for the
//! site's entities (kept here, or on the coordinator: the role decides, see `role.rs`).
//!
//! What one client address may hold is bounded here: at most `max_sessions_per_address` live
//! sessions and `max_sockets_per_address` open sockets (the Worker places every session and
//! socket of an address on one object, so this holds for a sharded site as for one object).
//!
//! - `sessions`: live sessions and their HTTP holds (where an HTTP session expires);
//! - `sockets`: open sockets by view, by watched entity and by silence deadline;
//! - `carry.rs`: sockets and the sessions they carry, message budgets, token expiry;
//! - `counts`: the site and room tallies (sessions, distinct visitors and addresses);
//! - `restore`: rebuilding all of it after a restart.

mod carry;
mod counts;
mod lifecycle;
use lifecycle::start_event;
mod restore;
mod sessions;
mod signals;
mod sockets;

use std::collections::HashMap;
use std::rc::Rc;

use super::shards::EntityEvent;
use super::slots::{RoomSlots, RoomStats};
#[cfg(test)]
use super::types::OVERFLOW_ROOM;
use super::types::{AddressKey, Config, Counts, Millis, RoomCounts, Visibility, VisitorKey};

use counts::Tallies;
pub(crate) use counts::{top_of, Tally};
use sessions::Sessions;
use signals::Signals;
pub(crate) use sockets::{Socket, Sockets};
/// A socket's limits and the codes it is closed with, for the OpenAPI document.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use {
    carry::{TOKEN_EXPIRED, TOO_MANY_MESSAGES},
    sockets::{BUDGET_WINDOW_MS, MESSAGE_BUDGET},
};

/// Why the core closes a socket that fell silent.
pub(crate) const SILENT_REASON: &str = "silent for longer than the ttl";

/// What a session should become, from a ping or a socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want<'a> {
    pub room: &'a str,
    pub visitor: VisitorKey,
    pub address: AddressKey,
    /// `None` keeps the entity the session carries (the caller checked it may).
    pub entity: Option<&'a str>,
    /// `None` keeps the info the session carries.
    pub info: Option<&'a str>,
    pub visibility: Visibility,
    /// A socket carries it (its attachment keeps it through hibernation): a new anonymous
    /// session needs no row (see [`Session::stored`]).
    pub by_socket: bool,
}

/// What one client address holds here.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    sessions: u32,
    sockets: u32,
}

#[derive(Debug)]
pub(crate) struct Local {
    cfg: Config,
    sessions: Sessions,
    tallies: Tallies,
    pub(crate) sockets: Sockets,
    /// What each client address holds (sessions and sockets), for its ceilings.
    by_address: HashMap<AddressKey, Usage>,
    /// The signals (`typing`) of sessions that carry an entity.
    signals: Signals,
    /// Entity session changes not yet taken by the role.
    events: Vec<EntityEvent>,
    /// A socket opened or closed since the last look (a shard's report says how many).
    sockets_changed: bool,
}

/// What changed since the last look, for the broadcast, the room slots and a shard's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Some count.
    pub counts: bool,
    /// A socket opened or closed.
    pub sockets: bool,
}

impl Local {
    pub fn new(cfg: Config) -> Self {
        Local {
            cfg,
            sessions: Sessions::default(),
            tallies: Tallies::default(),
            sockets: Sockets::default(),
            by_address: HashMap::new(),
            signals: Signals::default(),
            events: Vec::new(),
            sockets_changed: false,
        }
    }

    // ----- reading -----

    pub fn site(&self) -> Counts {
        self.tallies.site()
    }

    /// A room's counts as answers show them (0 for a room counted in `~other`).
    pub fn room(&self, room: &str) -> Counts {
        self.tallies.room(room)
    }

    /// The rooms as answers show them (named rooms and `~other`), by name.
    pub fn rooms(&self) -> Vec<RoomCounts> {
        self.tallies.list()
    }

    /// The busiest rooms first, at most `limit`.
    pub fn top_rooms(&self, limit: usize) -> Vec<RoomCounts> {
        self.tallies.top(limit)
    }

    /// Every room under its own name, with its distinct addresses.
    pub fn room_stats(&self) -> HashMap<String, RoomStats> {
        self.tallies.stats()
    }

    /// The rooms counted in `~other`, together.
    pub fn other(&self) -> Counts {
        self.tallies.other()
    }

    pub fn room_count(&self) -> usize {
        self.tallies.room_count()
    }

    /// Whether sessions of `room` are counted under its name.
    pub fn is_named(&self, room: &str) -> bool {
        self.tallies.is_named(room)
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    #[cfg(test)]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    #[cfg(test)]
    pub fn is_live(&self, session: &str) -> bool {
        self.sessions.contains(session)
    }

    #[cfg(test)]
    /// The room a live session is in.
    pub fn session_room(&self, session: &str) -> Option<&str> {
        self.sessions.get(session).map(|s| &*s.room)
    }

    #[cfg(test)]
    /// Whether a live session must have a row: an HTTP hold or an entity.
    pub fn needs_row(&self, session: &str) -> bool {
        (self.sessions.get(session)).is_some_and(|s| s.hold_until.is_some() || s.carried.is_some())
    }

    #[cfg(test)]
    pub fn is_away(&self, session: &str) -> bool {
        self.sessions.get(session).is_some_and(|s| s.away)
    }

    /// Whether a live session is visible (counted) now.
    pub fn is_counted(&self, session: &str) -> bool {
        self.sessions.get(session).is_some_and(|s| !s.away)
    }

    /// The entity a live session carries.
    pub fn entity_of(&self, session: &str) -> Option<&str> {
        self.sessions.get(session)?.entity().map(|e| &**e)
    }

    /// Whether this object holds anything a coordinator must count or serve.
    pub fn holds_anything(&self) -> bool {
        self.sessions.len() > 0 || self.sockets.len() > 0
    }

    /// The rooms some socket views.
    pub fn viewed_rooms(&self) -> Vec<String> {
        self.sockets
            .views()
            .filter_map(|(r, _)| r.map(|r| r.to_string()))
            .collect()
    }

    /// Rooms whose members some socket receives.
    pub fn members_rooms(&self) -> Vec<String> {
        self.sockets
            .members_rooms()
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    /// The visible sessions in `room` without an entity, and their distinct visitors (a scan:
    /// only members answers ask, at most once per broadcast interval per room).
    pub fn anonymous_in(&self, room: &str) -> Counts {
        let mut tally = Tally::default();
        for (_, s) in self.sessions.iter() {
            if !s.away && s.carried.is_none() && &*s.room == room {
                tally.add(s.visitor);
            }
        }
        tally.counts()
    }

    /// Every entity session of this object, as a shard reports them after a restart.
    pub fn entity_snapshot(&self, now: Millis) -> Vec<EntityEvent> {
        let mut events = Vec::new();
        for (name, s) in self.sessions.iter() {
            let Some(start) = start_event(name, s, now) else {
                continue;
            };
            events.push(start);
            for (signal, until) in self.signals.held(name, now) {
                events.push(EntityEvent::Signal {
                    entity: s.entity().cloned().unwrap_or_default(),
                    session: name.clone(),
                    name: signal,
                    until: Some(until),
                    at: now,
                });
            }
        }
        events
    }

    /// The entity changes since the last call, in order.
    pub fn take_events(&mut self) -> Vec<EntityEvent> {
        std::mem::take(&mut self.events)
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        Changes {
            counts: self.tallies.take_changed(),
            sockets: std::mem::take(&mut self.sockets_changed),
        }
    }

    /// Whether a room appeared, emptied or changed its distinct addresses since the last call
    /// (for the site's room slots).
    pub fn take_rooms_changed(&mut self) -> bool {
        self.tallies.take_rooms_changed()
    }

    /// Rooms whose anonymous sessions changed since the last call.
    pub fn take_anonymous_changed(&mut self) -> Vec<Rc<str>> {
        self.tallies.take_anonymous_changed()
    }

    /// The site's room slots changed (or this object's own): rooms move between their names
    /// and `~other`. Answers whether any did.
    pub fn follow(&mut self, slots: &RoomSlots) -> bool {
        self.tallies.follow(slots)
    }

    #[cfg(test)]
    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        let mut site = Tally::default();
        let mut rooms: HashMap<&str, Tally> = Default::default();
        for (_, s) in self.sessions.iter().filter(|(_, s)| !s.away) {
            site.add(s.visitor);
            let key = if self.tallies.is_named(&s.room) {
                &*s.room
            } else {
                OVERFLOW_ROOM
            };
            rooms.entry(key).or_default().add(s.visitor);
        }
        let mut list: Vec<RoomCounts> = rooms
            .iter()
            .map(|(r, t)| RoomCounts::new(r, t.counts()))
            .collect();
        crate::sort::sort_by(&mut list, |a, b| a.room.cmp(&b.room));
        (site.counts(), list)
    }

    /// When the earliest HTTP hold, socket silence or token expiry runs out.
    pub fn next_wake(&self) -> Option<Millis> {
        [
            self.sessions.next_expiry(),
            self.sockets.next_silence(),
            self.sockets.next_token_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sessions are live that only HTTP heartbeats keep.
    pub fn has_holds(&self) -> bool {
        self.sessions.next_expiry().is_some()
    }
}
