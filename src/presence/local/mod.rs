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
mod restore;
mod sessions;
mod signals;
mod sockets;

use std::collections::HashMap;
use std::rc::Rc;

use super::effects::{Effects, Write};
use super::shards::EntityEvent;
use super::slots::{RoomSlots, RoomStats};
#[cfg(test)]
use super::types::OVERFLOW_ROOM;
use super::types::{
    valid_signal, AddressKey, Config, Counts, Millis, Refusal, RoomCounts, Visibility, VisitorKey,
};

pub(crate) use counts::{top_of, Tally};
use counts::{Counted, Tallies};
use sessions::{Carried, HoldUntil, Session, Sessions};
use signals::Signals;
pub(crate) use sockets::{Socket, Sockets};

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
        list.sort_by(|a, b| a.room.cmp(&b.room));
        (site.counts(), list)
    }

    // ----- sessions -----

    /// Refuses a new session past the site's ceiling or its address's; a known session is
    /// always admitted.
    pub fn admit(&self, session: &str, address: AddressKey) -> Result<(), Refusal> {
        if self.sessions.contains(session) {
            return Ok(());
        }
        if self.sessions.len() >= self.cfg.limits.max_sessions {
            return Err(Refusal::SiteFull);
        }
        let held = self.by_address.get(&address).map_or(0, |u| u.sessions);
        if address != AddressKey::UNKNOWN
            && held as usize >= self.cfg.limits.max_sessions_per_address
        {
            return Err(Refusal::TooManyFromAddress);
        }
        Ok(())
    }

    /// A session that carries an entity is that entity's: only a ping or socket carrying a
    /// valid track token for the same entity (`entity`, checked by the edge) may touch it.
    pub fn check_owner(&self, session: &str, entity: Option<&str>) -> Result<(), Refusal> {
        match self.entity_of(session) {
            Some(owner) if entity != Some(owner) => Err(Refusal::NotYours),
            _ => Ok(()),
        }
    }

    /// Whether `session` may begin (`on`) or end its signal `name` at `now`: the session (or
    /// the ping that would start it) carries an entity, the name is one, and a new signal
    /// stays within the session's limits. Checked before anything changes.
    pub fn check_signal(
        &self,
        session: &str,
        entity: Option<&str>,
        name: &str,
        on: bool,
        now: Millis,
    ) -> Result<(), Refusal> {
        let carries = entity.is_some() || self.entity_of(session).is_some();
        if !carries || !valid_signal(name) {
            return Err(Refusal::BadSignal);
        }
        if on {
            self.signals.check(session, name, now)?;
        }
        Ok(())
    }

    /// `session` begins or renews (`on`) or ends its signal `name` at `now` (the caller
    /// checked it may): the site's entities hear of it. Ending one it does not hold does
    /// nothing.
    pub fn signal(&mut self, now: Millis, session: &str, name: &str, on: bool) {
        let Some(held_as) = self.sessions.name(session) else {
            return;
        };
        let Some(entity) = self
            .sessions
            .get(&held_as)
            .and_then(|s| s.entity().cloned())
        else {
            return;
        };
        let (name, until) = if on {
            let until = now + self.cfg.signal_ttl_ms;
            (self.signals.begin(&held_as, name, now, until), Some(until))
        } else {
            match self.signals.end(&held_as, name, now) {
                Some(n) => (n, None),
                None => return,
            }
        };
        self.events.push(EntityEvent::Signal {
            entity,
            session: held_as,
            name,
            until,
            at: now,
        });
    }

    /// Gives a live session an HTTP hold of `visibility`'s length from `now`.
    pub fn hold(&mut self, session: &str, now: Millis, visibility: Visibility) {
        if let Some(name) = self.sessions.name(session) {
            self.sessions
                .hold(&name, now + self.cfg.hold_ms(visibility));
        }
    }

    /// Makes `session` live as `want` says: a join when it is new, a change (room, visitor,
    /// address, entity, info, away or back) when something differs, a confirmation when it was
    /// restored, and a mere sign of life otherwise. Answers the session's shared name.
    pub fn upsert(
        &mut self,
        now: Millis,
        session: &str,
        want: Want<'_>,
        out: &mut Effects,
    ) -> Rc<str> {
        let room = self.tallies.intern(want.room);
        match self.sessions.name(session) {
            None => self.join(now, Rc::from(session), room, want, out),
            Some(name) => {
                self.change(now, &name, room, want, out);
                name
            }
        }
    }

    /// A new session.
    fn join(
        &mut self,
        now: Millis,
        name: Rc<str>,
        room: Rc<str>,
        want: Want<'_>,
        out: &mut Effects,
    ) -> Rc<str> {
        let carried = want.entity.map(|e| {
            Rc::new(Carried {
                entity: Rc::from(e),
                info: want.info.map(Rc::from),
            })
        });
        let s = Session {
            room,
            visitor: want.visitor,
            address: want.address,
            carried,
            joined_at: now,
            hold_until: HoldUntil::NONE,
            sockets: 0,
            restored: false,
            away: want.visibility == Visibility::Away,
        };
        self.uses(s.address, 1, 0);
        self.count(&s, true, now);
        self.events.extend(start_event(&name, &s, now));
        out.writes.push(upsert_row(&name, &s));
        self.sessions.insert(name.clone(), s);
        name
    }

    /// A known session as `want` says: a mere sign of life when nothing differs.
    fn change(
        &mut self,
        now: Millis,
        name: &Rc<str>,
        room: Rc<str>,
        want: Want,
        out: &mut Effects,
    ) {
        let Some(s) = self.sessions.get(name) else {
            return;
        };
        let away = want.visibility == Visibility::Away;
        let entity_changed = want
            .entity
            .is_some_and(|e| s.entity().map(|x| &**x) != Some(e));
        let info_changed = want.info.is_some_and(|i| s.info().map(|x| &**x) != Some(i));
        let moved = s.room != room || s.visitor != want.visitor || s.away != away;
        let readdressed = s.address != want.address && want.address != AddressKey::UNKNOWN;
        if !moved && !entity_changed && !info_changed && !readdressed {
            self.seen_alive(now, name, out);
            return;
        }
        let old = s.clone();
        self.count(&old, false, now);
        self.uses(old.address, -1, 0);
        let carried = match (want.entity, &old.carried) {
            (Some(e), _) if entity_changed || info_changed => Some(Rc::new(Carried {
                entity: Rc::from(e),
                info: want.info.map(Rc::from).or_else(|| old.info().cloned()),
            })),
            _ => old.carried.clone(),
        };
        let mut new = Session {
            room,
            visitor: want.visitor,
            carried,
            away,
            restored: false,
            ..old.clone()
        };
        if readdressed {
            new.address = want.address; // its sockets count for the addresses that opened them
        }
        self.uses(new.address, 1, 0);
        self.count(&new, true, now);
        if moved || entity_changed || info_changed {
            out.writes.push(upsert_row(name, &new));
        } else if old.restored {
            // seen again from its address: confirmed (its stored row stands)
            out.writes.push(Write::Confirm {
                session: name.to_string(),
            });
        }
        if let Some(entity) = old.entity().filter(|_| entity_changed) {
            self.signals.forget(name);
            self.events.push(EntityEvent::End {
                entity: entity.clone(),
                session: name.clone(),
                at: now,
                last_seen: now,
            });
        }
        let start =
            start_event(name, &new, now).filter(|_| moved || entity_changed || info_changed);
        self.events.extend(start);
        if let Some(s) = self.sessions.get_mut(name) {
            *s = new;
        }
    }

    /// A sign of life of a session that did not change: a restored one is confirmed.
    fn seen_alive(&mut self, now: Millis, name: &Rc<str>, out: &mut Effects) {
        let Some(s) = self.sessions.get_mut(name) else {
            return;
        };
        if std::mem::take(&mut s.restored) {
            out.writes.push(Write::Confirm {
                session: name.to_string(),
            });
        }
        if let Some(entity) = s.entity().cloned() {
            self.events.push(EntityEvent::Seen { entity, at: now });
        }
    }

    /// Counts (`true`) or uncounts a visible session in the tallies at `now`.
    fn count(&mut self, s: &Session, add: bool, now: Millis) {
        if s.away {
            return;
        }
        let c = Counted {
            room: &s.room,
            visitor: s.visitor,
            address: s.address,
            anonymous: s.carried.is_none(),
            at: now,
        };
        if add {
            self.tallies.add(c);
        } else {
            self.tallies.remove(c);
        }
    }

    /// What `address` holds changes by `sessions` and `sockets`.
    fn uses(&mut self, address: AddressKey, sessions: i64, sockets: i64) {
        if address == AddressKey::UNKNOWN {
            return;
        }
        let u = self.by_address.entry(address).or_default();
        u.sessions = (i64::from(u.sessions) + sessions).max(0) as u32;
        u.sockets = (i64::from(u.sockets) + sockets).max(0) as u32;
        if u.sessions == 0 && u.sockets == 0 {
            self.by_address.remove(&address);
        }
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    pub fn end(&mut self, session: &str, now: Millis, last_seen: Millis, out: &mut Effects) {
        let Some((name, s)) = self.sessions.remove(session) else {
            return;
        };
        self.count(&s, false, now);
        self.uses(s.address, -1, 0);
        self.signals.forget(&name);
        if let Some(entity) = s.entity().cloned() {
            self.events.push(EntityEvent::End {
                entity,
                session: name.clone(),
                at: now,
                last_seen,
            });
        }
        if s.sockets > 0 {
            self.sockets.detach_session(&name);
        }
        out.writes.push(Write::Delete {
            session: name.to_string(),
        });
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

/// What the site's entities hear of a session that carries an entity and started or changed.
fn start_event(name: &Rc<str>, s: &Session, now: Millis) -> Option<EntityEvent> {
    Some(EntityEvent::Start {
        entity: s.entity()?.clone(),
        session: name.clone(),
        room: s.room.clone(),
        visible: !s.away,
        info: s.info().cloned(),
        at: now,
    })
}

/// The row of a session as it is now.
fn upsert_row(name: &str, s: &Session) -> Write {
    Write::Upsert {
        session: name.to_owned(),
        room: s.room.to_string(),
        visitor: s.visitor,
        entity: s.entity().map(|e| e.to_string()),
        info: s.info().map(|i| i.to_string()),
        joined_at: s.joined_at,
        away: s.away,
    }
}
