//! One entity as the site's entities hold it while it lives: its sessions (with their rooms,
//! visibility and signals), and what its watchers were last shown.

use std::rc::Rc;

use super::super::types::Millis;
use super::{EntityRecord, EntityStatus, Info, RoomPresence, State};

#[derive(Clone, Debug)]
pub(super) struct EntitySession {
    pub(super) session: Rc<str>,
    pub(super) room: Rc<str>,
    pub(super) visible: bool,
    /// The object that holds it (0: this one; a shard's index for a sharded site).
    pub(super) shard: u32,
    /// Its signals (`typing`), each with when it ends.
    pub(super) signals: Vec<(Rc<str>, Millis)>,
}

#[derive(Clone, Debug)]
pub(super) struct Entity {
    pub(super) sessions: Vec<EntitySession>,
    pub(super) last_seen: Millis,
    pub(super) online_since: Millis,
    pub(super) info: Option<Info>,
    /// Set while a drop is pending: the shown status is frozen until then.
    pub(super) grace_until: Option<Millis>,
    /// The `(state, sessions)` watchers were last told.
    pub(super) shown: (State, u32),
    /// The rooms members were last shown it in.
    pub(super) shown_rooms: Vec<RoomPresence>,
    /// The info watchers were last told.
    pub(super) shown_info: Option<Info>,
    /// The signals watchers were last told.
    pub(super) shown_signals: Vec<Rc<str>>,
}

impl Entity {
    pub(super) fn new(now: Millis, last_seen: Millis, online_since: Millis) -> Self {
        Entity {
            sessions: Vec::new(),
            last_seen: last_seen.min(now),
            online_since,
            info: None,
            grace_until: None,
            shown: (State::Offline, 0),
            shown_rooms: Vec::new(),
            shown_info: None,
            shown_signals: Vec::new(),
        }
    }

    /// The signals its sessions hold now, sorted, each once.
    pub(super) fn current_signals(&self) -> Vec<Rc<str>> {
        let mut all: Vec<Rc<str>> = (self.sessions.iter())
            .flat_map(|s| s.signals.iter().map(|(n, _)| n.clone()))
            .collect();
        crate::sort::sort(&mut all);
        all.dedup();
        all
    }

    /// The state its sessions make now, ignoring the grace.
    pub(super) fn current(&self) -> (State, u32) {
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
    pub(super) fn current_rooms(&self) -> Vec<RoomPresence> {
        let mut rooms: Vec<RoomPresence> = Vec::new();
        for s in &self.sessions {
            let signals = s.signals.iter().map(|(n, _)| n.clone());
            match rooms.iter_mut().find(|r| r.room == s.room) {
                Some(r) => {
                    r.sessions += 1;
                    r.visible |= s.visible;
                    r.signals.extend(signals);
                }
                None => rooms.push(RoomPresence {
                    room: s.room.clone(),
                    sessions: 1,
                    visible: s.visible,
                    signals: signals.collect(),
                }),
            }
        }
        for r in &mut rooms {
            crate::sort::sort(&mut r.signals);
            r.signals.dedup();
        }
        crate::sort::sort_by(&mut rooms, |a, b| a.room.cmp(&b.room));
        rooms
    }

    pub(super) fn status(&self) -> EntityStatus {
        let (state, sessions) = self.shown;
        EntityStatus {
            state,
            sessions,
            last_seen: Some(self.last_seen),
            online_since: (state != State::Offline).then_some(self.online_since),
            info: self.shown_info.clone(),
            signals: self.shown_signals.clone(),
        }
    }

    pub(super) fn record(&self, name: &str) -> EntityRecord {
        EntityRecord {
            entity: name.to_owned(),
            last_seen: self.last_seen,
            online_since: self.online_since,
            info: self.info.as_deref().map(str::to_owned),
        }
    }
}
