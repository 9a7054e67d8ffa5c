//! Entities: people or things whose own status matters (`user:42`, `customer:conv_123`).
//! Part of the presence core: no I/O, the time is an argument.
//!
//! An entity is **online** while one of its sessions is visible, **away** while it has
//! sessions but none visible (hidden tabs), and **offline** otherwise. Watchers are told the
//! *shown* status; a drop (online -> away, online or away -> offline) is shown only after the
//! grace (`LEAVE_GRACE_MS`) with no recovery, so a reload or a quick reconnect never flaps,
//! while a rise (a new or visible-again session) is shown at once. A message goes out only when
//! the shown status changes; a webhook transition only when the shown state changes.
//!
//! Each entity also knows the rooms its sessions are in, for the members of a room: that view
//! is frozen with the shown status, so an avatar does not blink out during a reload either.
//!
//! Only entities that are online, away or in their grace are held in memory; the last-seen
//! time, the info and the start of the last online period of the others live in storage.

mod entity;
mod signals;
mod status;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::deadlines::Deadlines;
use super::shards::EntityEvent;
use super::types::Millis;

use entity::{Entity, EntitySession};
pub(crate) use status::info_json;
#[cfg(not(target_arch = "wasm32"))]
pub use status::schema::EntityStatusRules;
pub use status::{EntityRecord, EntityStatus, Info, Member, RoomPresence, State, Transition};

/// The entities of one site.
#[derive(Debug)]
pub struct Entities {
    grace_ms: Millis,
    live: HashMap<Rc<str>, Entity>,
    graces: Deadlines<Rc<str>>,
    /// When each signal ends: (entity, session, signal).
    signal_ends: Deadlines<(Rc<str>, Rc<str>, Rc<str>)>,
    /// Rooms -> the entities members show there.
    by_room: HashMap<Rc<str>, HashSet<Rc<str>>>,
    /// Shown status changes not yet taken by the edge.
    changes: Vec<(Rc<str>, EntityStatus)>,
    /// Shown state changes not yet taken (webhooks).
    transitions: Vec<Transition>,
    /// Rooms whose members changed since the last take.
    dirty_rooms: HashSet<Rc<str>>,
    /// Entity rows to store, not yet taken by the edge.
    records: Vec<EntityRecord>,
}

impl Entities {
    pub fn new(grace_ms: Millis) -> Self {
        Entities {
            grace_ms,
            live: HashMap::new(),
            graces: Deadlines::default(),
            signal_ends: Deadlines::default(),
            by_room: HashMap::new(),
            changes: Vec::new(),
            transitions: Vec::new(),
            dirty_rooms: HashSet::new(),
            records: Vec::new(),
        }
    }

    /// The status of an entity held in memory (online, away, or in its grace); `None`
    /// otherwise (it is offline: the rest is in storage).
    pub fn status(&self, entity: &str) -> Option<EntityStatus> {
        self.live.get(entity).map(Entity::status)
    }

    #[cfg(test)]
    /// Entities held in memory.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    #[cfg(test)]
    /// The shared name of an entity held in memory, or a new one.
    pub fn name(&self, entity: &str) -> Rc<str> {
        match self.live.get_key_value(entity) {
            Some((k, _)) => k.clone(),
            None => Rc::from(entity),
        }
    }

    fn entry(&mut self, entity: &Rc<str>, now: Millis) -> &mut Entity {
        self.live
            .entry(entity.clone())
            .or_insert_with(|| Entity::new(now, now, now))
    }

    /// A change of one of the entity's sessions, held by object `shard` (0: this one).
    pub fn apply(&mut self, event: EntityEvent, shard: u32) {
        match event {
            EntityEvent::Start {
                entity,
                session,
                room,
                visible,
                info,
                at,
            } => {
                let s = EntitySession {
                    session,
                    room,
                    visible,
                    shard,
                    signals: Vec::new(),
                };
                self.start(&entity, s, info, at);
            }
            EntityEvent::Restored {
                entity,
                session,
                room,
                visible,
                info,
                last_seen,
                online_since,
                at,
            } => {
                let s = EntitySession {
                    session,
                    room,
                    visible,
                    shard,
                    signals: Vec::new(),
                };
                self.restore(&entity, s, info, (last_seen, online_since), at);
            }
            EntityEvent::End {
                entity,
                session,
                at,
                last_seen,
            } => self.end(&entity, &session, at, last_seen),
            EntityEvent::Seen { entity, at } => self.seen(&entity, at),
            EntityEvent::Signal {
                entity,
                session,
                name,
                until,
                at,
            } => self.signal(&entity, &session, name, until, at),
        }
    }

    /// A session of the entity began (or changed) at `now`, carrying `info` from its token.
    /// Its start is stored as a sign of life.
    fn start(&mut self, entity: &Rc<str>, mut s: EntitySession, info: Option<Info>, now: Millis) {
        let e = self.entry(entity, now);
        // a session that moved or came back keeps its signals
        if let Some(i) = e.sessions.iter().position(|x| x.session == s.session) {
            s.signals = e.sessions.remove(i).signals;
        }
        e.sessions.push(s);
        e.last_seen = e.last_seen.max(now);
        if info.is_some() {
            e.info = info;
        }
        let record = e.record(entity);
        self.records.push(record);
        self.refresh(entity, now);
    }

    /// A session of the entity came back from storage after a restart: the entity was last
    /// seen and online since as `stored` says. Nothing is written or announced.
    fn restore(
        &mut self,
        entity: &Rc<str>,
        s: EntitySession,
        info: Option<Info>,
        (last_seen, online_since): (Millis, Millis),
        now: Millis,
    ) {
        let e = self
            .live
            .entry(entity.clone())
            .or_insert_with(|| Entity::new(now, last_seen, online_since));
        e.sessions.retain(|x| x.session != s.session);
        e.sessions.push(s);
        e.last_seen = e.last_seen.max(last_seen.min(now));
        e.online_since = e.online_since.min(online_since);
        if info.is_some() {
            e.info = info;
        }
        if let Some(until) = e.grace_until.take() {
            self.graces.remove(until, entity);
        }
        e.shown = e.current();
        e.shown_info = e.info.clone();
        let rooms = e.current_rooms();
        let old = std::mem::replace(&mut e.shown_rooms, rooms.clone());
        self.index_rooms(entity, &old, &rooms);
        self.dirty_rooms.clear();
    }

    /// A sign of life of one of the entity's sessions (kept in memory only).
    fn seen(&mut self, entity: &str, at: Millis) {
        if let Some(e) = self.live.get_mut(entity) {
            e.last_seen = e.last_seen.max(at);
        }
    }

    /// A session of `entity` ended at `now`; its last sign of life was `last_seen`.
    fn end(&mut self, entity: &str, session: &str, now: Millis, last_seen: Millis) {
        let Some(name) = self.live.get_key_value(entity).map(|(k, _)| k.clone()) else {
            return;
        };
        if let Some(e) = self.live.get_mut(entity) {
            if let Some(i) = e.sessions.iter().position(|s| &*s.session == session) {
                // its signals end with it
                let s = e.sessions.remove(i);
                for (signal, until) in s.signals {
                    self.signal_ends
                        .remove(until, &(name.clone(), s.session.clone(), signal));
                }
            }
            e.last_seen = e.last_seen.max(last_seen);
            let record = e.record(entity);
            self.records.push(record);
        }
        self.refresh(&name, now);
    }

    /// The entity sessions shard `shard` holds are exactly `sessions` (entity, session) from now
    /// on: any other it was known to hold ended at `now` (its list after a restart).
    pub fn replace_shard(
        &mut self,
        shard: u32,
        sessions: &HashSet<(Rc<str>, Rc<str>)>,
        now: Millis,
    ) {
        let gone: Vec<(Rc<str>, Rc<str>)> = self
            .live
            .iter()
            .flat_map(|(name, e)| {
                e.sessions
                    .iter()
                    .filter(|s| s.shard == shard)
                    .map(move |s| (name.clone(), s.session.clone()))
            })
            .filter(|key| !sessions.contains(key))
            .collect();
        for (entity, session) in gone {
            self.end(&entity, &session, now, now);
        }
    }

    /// Ends the graces that ran out by `now`: what those entities show catches up (away or
    /// offline); offline entities leave memory.
    pub fn expire(&mut self, now: Millis) {
        self.expire_signals(now);
        while let Some((until, name)) = self.graces.pop_due(now) {
            if let Some(e) = self.live.get_mut(&name) {
                e.grace_until = None;
            }
            self.show(&name, until);
        }
    }

    /// The earliest grace or signal that runs out.
    pub fn next_wake(&self) -> Option<Millis> {
        [self.graces.next(), self.signal_ends.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// After a change: a rise is shown at once; a drop starts (or continues) the grace.
    fn refresh(&mut self, name: &Rc<str>, now: Millis) {
        let Some(e) = self.live.get_mut(name) else {
            return;
        };
        let (state, _) = e.current();
        if state < e.shown.0 {
            if e.grace_until.is_none() {
                let until = now + self.grace_ms;
                e.grace_until = Some(until);
                self.graces.insert(until, name.clone());
            }
            // the state is frozen for the grace; signals are not (they end with a session)
            let signals = e.current_signals();
            if signals != e.shown_signals {
                e.shown_signals = signals;
                let status = e.status();
                Self::changed(&mut self.changes, name, status);
            }
            return;
        }
        if let Some(until) = e.grace_until.take() {
            self.graces.remove(until, name);
        }
        self.show(name, now);
    }

    /// Shows what the entity's sessions make now: status changes, transitions, members.
    fn show(&mut self, name: &Rc<str>, now: Millis) {
        let Some(e) = self.live.get_mut(name) else {
            return;
        };
        let now_shown = e.current();
        let rooms = e.current_rooms();
        let from = e.shown.0;
        let info_changed = e.shown_info != e.info;
        let rooms_changed = rooms != e.shown_rooms;
        let signals = e.current_signals();
        if now_shown != e.shown || info_changed || signals != e.shown_signals {
            e.shown = now_shown;
            e.shown_info = e.info.clone();
            e.shown_signals = signals;
            let status = e.status();
            if from != now_shown.0 {
                self.transitions.push(Transition {
                    entity: name.clone(),
                    from,
                    at: now,
                    status: status.clone(),
                });
            }
            Self::changed(&mut self.changes, name, status);
        }
        let old = std::mem::replace(&mut e.shown_rooms, rooms.clone());
        let offline = now_shown.0 == State::Offline;
        if rooms_changed || info_changed || from != now_shown.0 {
            for r in old.iter().chain(rooms.iter()) {
                self.dirty_rooms.insert(r.room.clone());
            }
        }
        self.index_rooms(name, &old, &rooms);
        if offline {
            self.live.remove(name);
        }
    }

    fn index_rooms(&mut self, name: &Rc<str>, old: &[RoomPresence], new: &[RoomPresence]) {
        for r in old {
            if !new.iter().any(|n| n.room == r.room) {
                if let Some(set) = self.by_room.get_mut(&r.room) {
                    set.remove(name);
                    if set.is_empty() {
                        self.by_room.remove(&r.room);
                    }
                }
            }
        }
        for r in new {
            self.by_room
                .entry(r.room.clone())
                .or_default()
                .insert(name.clone());
        }
    }

    /// The members of `room`: earliest `online_since` first (then by id), at most `limit`;
    /// answers whether the list was cut.
    pub fn members(&self, room: &str, limit: usize) -> (Vec<Member>, bool) {
        let mut out: Vec<Member> = self
            .by_room
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|name| {
                let e = self.live.get(name)?;
                let here = e.shown_rooms.iter().find(|r| &*r.room == room)?;
                Some(Member {
                    entity: name.clone(),
                    state: if here.visible {
                        State::Online
                    } else {
                        State::Away
                    },
                    sessions: here.sessions,
                    online_since: e.online_since,
                    info: e.shown_info.clone(),
                    signals: here.signals.clone(),
                })
            })
            .collect();
        crate::sort::sort_by(&mut out, |a, b| {
            a.online_since
                .cmp(&b.online_since)
                .then_with(|| a.entity.cmp(&b.entity))
        });
        let truncated = out.len() > limit;
        out.truncate(limit);
        (out, truncated)
    }

    /// A shown status changed: watchers hear the latest once (two changes of one input, a
    /// join and its first signal, are one message).
    fn changed(changes: &mut Vec<(Rc<str>, EntityStatus)>, name: &Rc<str>, status: EntityStatus) {
        match changes.iter_mut().find(|(n, _)| n == name) {
            Some(pending) => pending.1 = status,
            None => changes.push((name.clone(), status)),
        }
    }

    /// Shown status changes since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<(Rc<str>, EntityStatus)> {
        std::mem::take(&mut self.changes)
    }

    /// Shown state changes since the last call, in order (for webhooks).
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.transitions)
    }

    /// Rooms whose members changed since the last call.
    pub fn take_dirty_rooms(&mut self) -> Vec<Rc<str>> {
        self.dirty_rooms.drain().collect()
    }

    /// Entity rows to store since the last call.
    pub fn take_records(&mut self) -> Vec<EntityRecord> {
        std::mem::take(&mut self.records)
    }
}

/// Whether a watch pattern (an exact id, or a prefix ending in `*`) covers an entity.
pub fn pattern_allows(pattern: &str, entity: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => entity.starts_with(prefix),
        None => pattern == entity,
    }
}
