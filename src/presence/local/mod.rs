//! This object's own sessions and sockets, and their counts: whatever role the object has, it
//! holds these. Every change is applied to all three together (a session joins, moves, goes
//! away, ends; a socket opens, carries a session, closes, falls silent), and what it means
//! elsewhere comes out as data: rows to write, sockets to close, and [`EntityEvent`]s for the
//! site's entities (kept here, or on the coordinator: the role decides, see `role.rs`).
//!
//! - `sessions`: live sessions and their HTTP holds (where an HTTP session expires);
//! - `sockets`: open sockets by view, by watched entity and by silence deadline;
//! - `counts`: the site and room tallies (sessions, distinct visitors, the overflow room);
//! - `restore`: rebuilding all of it after a restart.

mod carry;
mod counts;
mod restore;
mod sessions;
mod sockets;

use std::rc::Rc;

use super::effects::{Effects, Write};
use super::shards::EntityEvent;
use super::slots::RoomSlots;
use super::types::{Config, Counts, Millis, Refusal, RoomCounts, Visibility, VisitorKey};

use counts::Tallies;
pub(crate) use counts::{top_of, Tally};
use sessions::{HoldUntil, Session, Sessions};
pub(crate) use sockets::{Socket, Sockets};

/// Why the core closes a socket that fell silent.
pub(crate) const SILENT_REASON: &str = "silent for longer than the ttl";

/// What a session should become, from a ping or a socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want<'a> {
    pub room: &'a str,
    pub visitor: VisitorKey,
    /// `None` keeps the entity the session carries.
    pub entity: Option<&'a str>,
    /// `None` keeps the info the session carries.
    pub info: Option<&'a str>,
    pub visibility: Visibility,
}

#[derive(Debug)]
pub(crate) struct Local {
    cfg: Config,
    sessions: Sessions,
    tallies: Tallies,
    pub(crate) sockets: Sockets,
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
    /// A room appeared or emptied.
    pub rooms: bool,
    /// A socket opened or closed.
    pub sockets: bool,
}

impl Local {
    pub fn new(cfg: Config) -> Self {
        Local {
            cfg,
            sessions: Sessions::default(),
            tallies: Tallies::new(cfg.limits.max_rooms),
            sockets: Sockets::default(),
            events: Vec::new(),
            sockets_changed: false,
        }
    }

    // ----- reading -----

    pub fn site(&self) -> Counts {
        self.tallies.site()
    }

    pub fn room(&self, room: &str) -> Counts {
        self.tallies.room(room)
    }

    /// Every room with a counted session, by name.
    pub fn rooms(&self) -> Vec<RoomCounts> {
        self.tallies.list()
    }

    /// The busiest rooms first, at most `limit`.
    pub fn top_rooms(&self, limit: usize) -> Vec<RoomCounts> {
        self.tallies.top(limit)
    }

    pub fn room_count(&self) -> usize {
        self.tallies.room_count()
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

    /// The room a live session is counted in.
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

    /// Whether `session` carries an entity.
    pub fn carries_entity(&self, session: &str) -> bool {
        self.sessions
            .get(session)
            .is_some_and(|s| s.entity.is_some())
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
            if !s.away && s.entity.is_none() && &*s.room == room {
                tally.add(s.visitor);
            }
        }
        tally.counts()
    }

    /// Every entity session of this object, as a shard reports them after a restart.
    pub fn entity_snapshot(&self, now: Millis) -> Vec<EntityEvent> {
        self.sessions
            .iter()
            .filter_map(|(name, s)| {
                Some(EntityEvent::Start {
                    entity: s.entity.clone()?,
                    session: name.clone(),
                    room: s.room.clone(),
                    visible: !s.away,
                    info: s.info.clone(),
                    at: now,
                })
            })
            .collect()
    }

    /// The entity changes since the last call, in order.
    pub fn take_events(&mut self) -> Vec<EntityEvent> {
        std::mem::take(&mut self.events)
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        Changes {
            counts: self.tallies.take_changed(),
            rooms: self.tallies.take_rooms_changed(),
            sockets: std::mem::take(&mut self.sockets_changed),
        }
    }

    /// Rooms whose anonymous sessions changed since the last call.
    pub fn take_anonymous_changed(&mut self) -> Vec<Rc<str>> {
        self.tallies.take_anonymous_changed()
    }

    #[cfg(test)]
    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        let mut site = Tally::default();
        let mut rooms: std::collections::HashMap<&str, Tally> = Default::default();
        for (_, s) in self.sessions.iter().filter(|(_, s)| !s.away) {
            site.add(s.visitor);
            rooms.entry(&s.room).or_default().add(s.visitor);
        }
        let mut list: Vec<RoomCounts> = rooms
            .iter()
            .map(|(r, t)| RoomCounts::new(r, t.counts()))
            .collect();
        list.sort_by(|a, b| a.room.cmp(&b.room));
        (site.counts(), list)
    }

    // ----- sessions -----

    /// Refuses a new session past the ceiling; a known session is always admitted.
    pub fn admit(&self, session: &str) -> Result<(), Refusal> {
        if !self.sessions.contains(session) && self.sessions.len() >= self.cfg.limits.max_sessions {
            return Err(Refusal::SiteFull);
        }
        Ok(())
    }

    /// Gives a live session an HTTP hold of `visibility`'s length from `now`.
    pub fn hold(&mut self, session: &str, now: Millis, visibility: Visibility) {
        if let Some(name) = self.sessions.name(session) {
            self.sessions
                .hold(&name, now + self.cfg.hold_ms(visibility));
        }
    }

    /// Makes `session` live as `want` says: a join when it is new, a change (room, visitor,
    /// entity, info, away or back) when something differs, a confirmation when it was
    /// restored, and a mere sign of life otherwise. Answers the session's shared name.
    pub fn upsert(
        &mut self,
        now: Millis,
        session: &str,
        want: Want<'_>,
        slots: Option<&RoomSlots>,
        out: &mut Effects,
    ) -> Rc<str> {
        let current = self.sessions.get(session).map(|s| &s.room);
        let room = self.tallies.place(want.room, current, slots);
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
        let away = want.visibility == Visibility::Away;
        let s = Session {
            room,
            visitor: want.visitor,
            entity: want.entity.map(Rc::from),
            info: want.info.map(Rc::from),
            joined_at: now,
            hold_until: HoldUntil::NONE,
            sockets: 0,
            restored: false,
            away,
        };
        if !away {
            self.tallies.add(&s.room, s.visitor, s.entity.is_none());
        }
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
        let Some(s) = self.sessions.get_mut(name) else {
            return;
        };
        let away = want.visibility == Visibility::Away;
        let entity_changed = want.entity.is_some_and(|e| s.entity.as_deref() != Some(e));
        let info_changed = want.info.is_some_and(|i| s.info.as_deref() != Some(i));
        let same = s.room == room && s.visitor == want.visitor && s.away == away;
        if same && !entity_changed && !info_changed {
            if std::mem::take(&mut s.restored) {
                out.writes.push(Write::Confirm {
                    session: name.to_string(),
                });
            }
            if let Some(entity) = s.entity.clone() {
                self.events.push(EntityEvent::Seen { entity, at: now });
            }
            return;
        }
        // uncount it as it was, change it, count it as it is
        if !s.away {
            self.tallies.remove(&s.room, s.visitor, s.entity.is_none());
        }
        let old_entity = if entity_changed {
            std::mem::replace(&mut s.entity, want.entity.map(Rc::from))
        } else {
            None
        };
        s.room = room;
        s.visitor = want.visitor;
        s.away = away;
        s.restored = false;
        if let Some(info) = want.info.filter(|_| info_changed) {
            s.info = Some(Rc::from(info));
        }
        if !s.away {
            self.tallies.add(&s.room, s.visitor, s.entity.is_none());
        }
        out.writes.push(upsert_row(name, s));
        let start = start_event(name, s, now);
        if let Some(entity) = old_entity {
            self.events.push(EntityEvent::End {
                entity,
                session: name.clone(),
                at: now,
                last_seen: now,
            });
        }
        self.events.extend(start);
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    pub fn end(&mut self, session: &str, now: Millis, last_seen: Millis, out: &mut Effects) {
        let Some((name, s)) = self.sessions.remove(session) else {
            return;
        };
        if !s.away {
            self.tallies.remove(&s.room, s.visitor, s.entity.is_none());
        }
        if let Some(entity) = s.entity {
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

    /// When the earliest HTTP hold or socket silence runs out.
    pub fn next_wake(&self) -> Option<Millis> {
        [self.sessions.next_expiry(), self.sockets.next_silence()]
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
        entity: s.entity.clone()?,
        session: name.clone(),
        room: s.room.clone(),
        visible: !s.away,
        info: s.info.clone(),
        at: now,
    })
}

/// The row of a session as it is now.
fn upsert_row(name: &str, s: &Session) -> Write {
    Write::Upsert {
        session: name.to_owned(),
        room: s.room.to_string(),
        visitor: s.visitor,
        entity: s.entity.as_deref().map(str::to_owned),
        info: s.info.as_deref().map(str::to_owned),
        joined_at: s.joined_at,
        away: s.away,
    }
}
