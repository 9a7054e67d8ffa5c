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

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::deadlines::Deadlines;
use super::types::Millis;

/// An entity's member info: a JSON object (at most 512 bytes) from its track token.
pub type Info = Rc<str>;

/// What a watcher sees of an entity's presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Offline,
    Away,
    Online,
}

/// What a watcher sees of an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityStatus {
    pub state: State,
    pub sessions: u32,
    /// Epoch ms of the last sign of life; `None` when never seen.
    pub last_seen: Option<Millis>,
    /// When the current online-or-away period began; `None` when offline.
    pub online_since: Option<Millis>,
    pub info: Option<Info>,
}

impl EntityStatus {
    /// An entity not held in memory: offline, last seen and info as storage says.
    pub fn offline(last_seen: Option<Millis>, info: Option<Info>) -> Self {
        EntityStatus {
            state: State::Offline,
            sessions: 0,
            last_seen,
            online_since: None,
            info,
        }
    }

    /// `true` when online or away.
    pub fn online(&self) -> bool {
        self.state != State::Offline
    }
}

/// Member info as JSON (it was checked to be an object when the token was read).
pub(crate) fn info_json(info: Option<&Info>) -> serde_json::Value {
    info.and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or(serde_json::Value::Null)
}

impl Serialize for EntityStatus {
    /// `{"online","state","sessions","last_seen","online_since","info"}`, as `/v1/status` shows it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("online", &self.online())?;
        m.serialize_entry("state", &self.state)?;
        m.serialize_entry("sessions", &self.sessions)?;
        m.serialize_entry("last_seen", &self.last_seen)?;
        m.serialize_entry("online_since", &self.online_since)?;
        m.serialize_entry("info", &info_json(self.info.as_ref()))?;
        m.end()
    }
}

/// An entity in one room, as members of that room show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomPresence {
    pub room: Rc<str>,
    pub sessions: u32,
    /// Some session of the entity in this room is visible.
    pub visible: bool,
}

/// One member of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub entity: Rc<str>,
    pub state: State,
    /// The entity's sessions in this room.
    pub sessions: u32,
    pub online_since: Millis,
    pub info: Option<Info>,
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("entity", &*self.entity)?;
        m.serialize_entry("state", &self.state)?;
        m.serialize_entry("sessions", &self.sessions)?;
        m.serialize_entry("online_since", &self.online_since)?;
        m.serialize_entry("info", &info_json(self.info.as_ref()))?;
        m.end()
    }
}

/// A change of an entity's shown state (for webhooks): `from` -> `status.state` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub entity: Rc<str>,
    pub from: State,
    pub at: Millis,
    pub status: EntityStatus,
}

/// What storage keeps of an entity (written when one of its sessions starts or ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRecord {
    pub entity: String,
    pub last_seen: Millis,
    pub online_since: Millis,
    pub info: Option<String>,
}

#[derive(Clone, Debug)]
struct EntitySession {
    session: Rc<str>,
    room: Rc<str>,
    visible: bool,
    /// The object that holds it (0: this one; a shard's index for a sharded site).
    shard: u32,
}

#[derive(Clone, Debug)]
struct Entity {
    sessions: Vec<EntitySession>,
    last_seen: Millis,
    online_since: Millis,
    info: Option<Info>,
    /// Set while a drop is pending: the shown status is frozen until then.
    grace_until: Option<Millis>,
    /// The `(state, sessions)` watchers were last told.
    shown: (State, u32),
    /// The rooms members were last shown it in.
    shown_rooms: Vec<RoomPresence>,
    /// The info watchers were last told.
    shown_info: Option<Info>,
}

impl Entity {
    fn new(now: Millis, last_seen: Millis, online_since: Millis) -> Self {
        Entity {
            sessions: Vec::new(),
            last_seen: last_seen.min(now),
            online_since,
            info: None,
            grace_until: None,
            shown: (State::Offline, 0),
            shown_rooms: Vec::new(),
            shown_info: None,
        }
    }

    /// The state its sessions make now, ignoring the grace.
    fn current(&self) -> (State, u32) {
        let n = self.sessions.len() as u32;
        let state = if n == 0 {
            State::Offline
        } else if self.sessions.iter().any(|s| s.visible) {
            State::Online
        } else {
            State::Away
        };
        (state, n)
    }

    /// The rooms its sessions are in now, by name.
    fn current_rooms(&self) -> Vec<RoomPresence> {
        let mut rooms: Vec<RoomPresence> = Vec::new();
        for s in &self.sessions {
            match rooms.iter_mut().find(|r| r.room == s.room) {
                Some(r) => {
                    r.sessions += 1;
                    r.visible |= s.visible;
                }
                None => rooms.push(RoomPresence {
                    room: s.room.clone(),
                    sessions: 1,
                    visible: s.visible,
                }),
            }
        }
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        rooms
    }

    fn status(&self) -> EntityStatus {
        let (state, sessions) = self.shown;
        EntityStatus {
            state,
            sessions,
            last_seen: Some(self.last_seen),
            online_since: (state != State::Offline).then_some(self.online_since),
            info: self.shown_info.clone(),
        }
    }

    fn record(&self, name: &str) -> EntityRecord {
        EntityRecord {
            entity: name.to_owned(),
            last_seen: self.last_seen,
            online_since: self.online_since,
            info: self.info.as_deref().map(str::to_owned),
        }
    }
}

/// The entities of one site.
#[derive(Debug)]
pub struct Entities {
    grace_ms: Millis,
    live: HashMap<Rc<str>, Entity>,
    graces: Deadlines<Rc<str>>,
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

    /// Entities held in memory.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

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

    /// A session of `entity` began at `now` in `room` (`visible` unless it joined hidden),
    /// carrying `info` from its token. Its start is stored as a sign of life.
    pub fn session_started(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Info>,
        now: Millis,
    ) {
        self.session_started_on(0, entity, session, room, visible, info, now);
    }

    /// A session of `entity` held by object `shard` began (or changed) at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn session_started_on(
        &mut self,
        shard: u32,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Info>,
        now: Millis,
    ) {
        let e = self.entry(entity, now);
        e.sessions.retain(|s| s.session != *session);
        e.sessions.push(EntitySession {
            session: session.clone(),
            room: room.clone(),
            visible,
            shard,
        });
        e.last_seen = e.last_seen.max(now);
        if info.is_some() {
            e.info = info;
        }
        let record = e.record(entity);
        self.records.push(record);
        self.refresh(entity, now);
    }

    /// A session of `entity` came back from storage after a restart: the entity was last seen
    /// at `last_seen`, online since `online_since`. Nothing is written or announced.
    #[allow(clippy::too_many_arguments)]
    pub fn session_restored(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Info>,
        last_seen: Millis,
        online_since: Millis,
        now: Millis,
    ) {
        let e = self
            .live
            .entry(entity.clone())
            .or_insert_with(|| Entity::new(now, last_seen, online_since));
        e.sessions.retain(|s| s.session != *session);
        e.sessions.push(EntitySession {
            session: session.clone(),
            room: room.clone(),
            visible,
            shard: 0,
        });
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

    /// A session of `entity` moved to `room`.
    pub fn session_moved(&mut self, entity: &str, session: &str, room: &Rc<str>, now: Millis) {
        let Some(name) = self.live.get_key_value(entity).map(|(k, _)| k.clone()) else {
            return;
        };
        if let Some(e) = self.live.get_mut(entity) {
            for s in e.sessions.iter_mut().filter(|s| &*s.session == session) {
                s.room = room.clone();
            }
            e.last_seen = e.last_seen.max(now);
        }
        self.refresh(&name, now);
    }

    /// A session of `entity` became visible again, or went away (a hidden tab).
    pub fn session_visible(&mut self, entity: &str, session: &str, visible: bool, now: Millis) {
        let Some(name) = self.live.get_key_value(entity).map(|(k, _)| k.clone()) else {
            return;
        };
        if let Some(e) = self.live.get_mut(entity) {
            for s in e.sessions.iter_mut().filter(|s| &*s.session == session) {
                s.visible = visible;
            }
            e.last_seen = e.last_seen.max(now);
        }
        self.refresh(&name, now);
    }

    /// A sign of life of one of the entity's sessions (kept in memory only).
    pub fn seen(&mut self, entity: &str, at: Millis) {
        if let Some(e) = self.live.get_mut(entity) {
            e.last_seen = e.last_seen.max(at);
        }
    }

    /// A session of `entity` ended at `now`; its last sign of life was `last_seen`.
    pub fn session_ended(&mut self, entity: &str, session: &str, now: Millis, last_seen: Millis) {
        let Some(name) = self.live.get_key_value(entity).map(|(k, _)| k.clone()) else {
            return;
        };
        if let Some(e) = self.live.get_mut(entity) {
            e.sessions.retain(|s| &*s.session != session);
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
            self.session_ended(&entity, &session, now, now);
        }
    }

    /// Ends the graces that ran out by `now`: what those entities show catches up (away or
    /// offline); offline entities leave memory.
    pub fn expire(&mut self, now: Millis) {
        while let Some((until, name)) = self.graces.pop_due(now) {
            if let Some(e) = self.live.get_mut(&name) {
                e.grace_until = None;
            }
            self.apply(&name, until);
        }
    }

    /// The earliest grace that runs out.
    pub fn next_wake(&self) -> Option<Millis> {
        self.graces.next()
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
            return;
        }
        if let Some(until) = e.grace_until.take() {
            self.graces.remove(until, name);
        }
        self.apply(name, now);
    }

    /// Shows what the entity's sessions make now: status changes, transitions, members.
    fn apply(&mut self, name: &Rc<str>, now: Millis) {
        let Some(e) = self.live.get_mut(name) else {
            return;
        };
        let now_shown = e.current();
        let rooms = e.current_rooms();
        let from = e.shown.0;
        let info_changed = e.shown_info != e.info;
        let rooms_changed = rooms != e.shown_rooms;
        if now_shown != e.shown || info_changed {
            e.shown = now_shown;
            e.shown_info = e.info.clone();
            let status = e.status();
            if from != now_shown.0 {
                self.transitions.push(Transition {
                    entity: name.clone(),
                    from,
                    at: now,
                    status: status.clone(),
                });
            }
            self.changes.push((name.clone(), status));
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
                })
            })
            .collect();
        out.sort_by(|a, b| {
            a.online_since
                .cmp(&b.online_since)
                .then_with(|| a.entity.cmp(&b.entity))
        });
        let truncated = out.len() > limit;
        out.truncate(limit);
        (out, truncated)
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

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Millis = 3_000;

    fn rc(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    fn shown(changes: &[(Rc<str>, EntityStatus)]) -> Vec<(State, u32)> {
        changes.iter().map(|(_, s)| (s.state, s.sessions)).collect()
    }

    fn start(e: &mut Entities, entity: &str, session: &str, room: &str, now: Millis) {
        e.session_started(&rc(entity), &rc(session), &rc(room), true, None, now);
    }

    #[test]
    fn online_while_a_session_lives_and_offline_only_after_the_grace() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:42", "s1", "/", 1_000);
        assert_eq!(shown(&e.take_changes()), [(State::Online, 1)]);
        e.session_ended("user:42", "s1", 2_000, 2_000);
        assert!(
            e.take_changes().is_empty(),
            "no message when the grace starts"
        );
        assert!(e.status("user:42").unwrap().online());
        assert_eq!(e.next_wake(), Some(2_000 + GRACE));
        e.expire(2_000 + GRACE - 1);
        assert!(e.status("user:42").is_some());
        e.expire(2_000 + GRACE);
        assert_eq!(shown(&e.take_changes()), [(State::Offline, 0)]);
        assert_eq!(e.status("user:42"), None, "offline entities leave memory");
    }

    #[test]
    fn a_reload_inside_the_grace_sends_nothing_and_keeps_online_since() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:1", "s1", "/", 0);
        e.take_changes();
        e.take_transitions();
        e.session_ended("user:1", "s1", 100, 100);
        start(&mut e, "user:1", "s1", "/", 400);
        e.expire(10_000);
        assert!(e.take_changes().is_empty());
        assert!(e.take_transitions().is_empty());
        let st = e.status("user:1").unwrap();
        assert_eq!((st.sessions, st.online_since), (1, Some(0)));
    }

    #[test]
    fn two_devices_count_two_and_one_leaving_keeps_it_online() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:1", "a", "/", 0);
        start(&mut e, "user:1", "b", "/", 10);
        e.session_ended("user:1", "a", 20, 20);
        e.expire(20 + GRACE);
        assert_eq!(
            shown(&e.take_changes()),
            [(State::Online, 1), (State::Online, 2), (State::Online, 1)]
        );
        assert!(e.status("user:1").unwrap().online());
    }

    #[test]
    fn a_hidden_tab_shows_away_after_the_grace_and_coming_back_shows_online_at_once() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:1", "s1", "/", 0);
        e.take_changes();
        e.take_transitions();
        e.session_visible("user:1", "s1", false, 1_000);
        assert!(
            e.take_changes().is_empty(),
            "a reload hides the tab for a moment"
        );
        e.expire(1_000 + GRACE);
        let st = e.status("user:1").unwrap();
        assert_eq!((st.state, st.online(), st.sessions), (State::Away, true, 1));
        assert_eq!(st.online_since, Some(0), "away keeps the online period");
        assert_eq!(shown(&e.take_changes()), [(State::Away, 1)]);
        let t = e.take_transitions();
        assert_eq!(
            (t[0].from, t[0].status.state, t[0].at),
            (State::Online, State::Away, 1_000 + GRACE)
        );
        e.session_visible("user:1", "s1", true, 9_000);
        assert_eq!(shown(&e.take_changes()), [(State::Online, 1)]);
        assert_eq!(e.take_transitions()[0].from, State::Away);
    }

    #[test]
    fn away_then_back_inside_the_grace_sends_nothing() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:1", "s1", "/", 0);
        e.take_changes();
        e.session_visible("user:1", "s1", false, 100);
        e.session_visible("user:1", "s1", true, 500);
        e.expire(100 + GRACE);
        assert!(e.take_changes().is_empty());
        assert_eq!(e.status("user:1").unwrap().state, State::Online);
    }

    #[test]
    fn transitions_come_online_away_offline_in_order() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "user:1", "s1", "/", 0);
        e.session_visible("user:1", "s1", false, 10);
        e.expire(10 + GRACE);
        e.session_ended("user:1", "s1", 5_000, 5_000);
        e.expire(5_000 + GRACE);
        let t: Vec<(State, State)> = e
            .take_transitions()
            .iter()
            .map(|t| (t.from, t.status.state))
            .collect();
        assert_eq!(
            t,
            [
                (State::Offline, State::Online),
                (State::Online, State::Away),
                (State::Away, State::Offline)
            ]
        );
    }

    #[test]
    fn last_seen_follows_signs_of_life_and_is_written_on_start_and_end_only() {
        let mut e = Entities::new(GRACE);
        start(&mut e, "u:1", "s1", "/", 1_000);
        assert_eq!(e.take_records().len(), 1);
        e.seen("u:1", 5_000);
        e.seen("u:1", 4_000);
        assert!(e.take_records().is_empty(), "signs of life write nothing");
        assert_eq!(e.status("u:1").unwrap().last_seen, Some(5_000));
        e.session_ended("u:1", "s1", 9_000, 6_000);
        let r = e.take_records();
        assert_eq!(
            (r.len(), r[0].last_seen, r[0].online_since),
            (1, 6_000, 1_000)
        );
        e.expire(9_000 + GRACE);
        let changes = e.take_changes();
        assert_eq!(changes.last().unwrap().1.last_seen, Some(6_000));
        assert_eq!(changes.last().unwrap().1.online_since, None);
    }

    #[test]
    fn members_follow_rooms_and_states_and_hold_through_a_reload() {
        let mut e = Entities::new(GRACE);
        e.session_started(
            &rc("user:1"),
            &rc("a"),
            &rc("/docs"),
            true,
            Some(rc(r#"{"name":"Ada"}"#)),
            10,
        );
        start(&mut e, "user:2", "b", "/docs", 5);
        start(&mut e, "user:2", "c", "/docs", 6);
        let mut dirty = e.take_dirty_rooms();
        dirty.sort();
        assert_eq!(dirty, [rc("/docs")]);
        let (m, cut) = e.members("/docs", 1_000);
        assert!(!cut);
        let ids: Vec<(&str, u32)> = m.iter().map(|m| (&*m.entity, m.sessions)).collect();
        assert_eq!(
            ids,
            [("user:2", 2), ("user:1", 1)],
            "earliest online_since first"
        );
        assert_eq!(m[1].info.as_deref(), Some(r#"{"name":"Ada"}"#));
        // a reload: ended then started again inside the grace changes nothing
        e.session_ended("user:1", "a", 100, 100);
        start(&mut e, "user:1", "a", "/docs", 200);
        assert!(e.take_dirty_rooms().is_empty());
        // a move shows at once in both rooms
        e.session_moved("user:1", "a", &rc("/api"), 300);
        let mut dirty = e.take_dirty_rooms();
        dirty.sort();
        assert_eq!(dirty, [rc("/api"), rc("/docs")]);
        assert_eq!(e.members("/api", 10).0.len(), 1);
        // away in the room, after the grace
        e.session_visible("user:1", "a", false, 400);
        e.expire(400 + GRACE);
        assert_eq!(e.members("/api", 10).0[0].state, State::Away);
        assert!(e.members("/docs", 0).1, "cut at the limit");
    }

    #[test]
    fn status_json_has_every_field() {
        let mut e = Entities::new(GRACE);
        e.session_started(
            &rc("u"),
            &rc("s"),
            &rc("/"),
            true,
            Some(rc(r#"{"name":"Ada"}"#)),
            7,
        );
        let v = serde_json::to_value(e.status("u").unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"online": true, "state": "online", "sessions": 1, "last_seen": 7, "online_since": 7, "info": {"name": "Ada"}})
        );
        let off = serde_json::to_value(EntityStatus::offline(None, None)).unwrap();
        assert_eq!(
            off,
            serde_json::json!({"online": false, "state": "offline", "sessions": 0, "last_seen": null, "online_since": null, "info": null})
        );
    }

    #[test]
    fn patterns_match_exact_ids_and_prefixes() {
        assert!(pattern_allows("user:42", "user:42"));
        assert!(!pattern_allows("user:42", "user:421"));
        assert!(pattern_allows("customer:*", "customer:conv_1"));
        assert!(!pattern_allows("customer:*", "customers:1"));
        assert!(!pattern_allows("customer:*", "user:1"));
        assert!(pattern_allows("*", "anything"));
    }
}
