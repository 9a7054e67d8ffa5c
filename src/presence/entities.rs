//! Entities: people or things whose own status matters (`user:42`, `customer:conv_123`).
//! Part of the presence core: no I/O, the time is an argument.
//!
//! An entity is online while any of its sessions lives. When the last one ends it stays online
//! for a grace period, and goes offline only if no new session arrives by then, so a reload or
//! a quick reconnect never flaps. Watchers are told the *visible* status, `(online, sessions)`,
//! which is frozen during the grace; a message goes out only when it changes.
//!
//! Only entities that are online or in their grace are held in memory; the last-seen time of
//! the others lives in storage (the edge reads it there).

use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;

use super::deadlines::Deadlines;
use super::types::Millis;

/// What a watcher sees of an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EntityStatus {
    pub online: bool,
    pub sessions: u32,
    /// Epoch ms of the last sign of life; `None` when never seen.
    pub last_seen: Option<Millis>,
}

impl EntityStatus {
    /// An entity not held in memory: offline, last seen when storage says.
    pub fn offline(last_seen: Option<Millis>) -> Self {
        EntityStatus {
            online: false,
            sessions: 0,
            last_seen,
        }
    }
}

#[derive(Clone, Debug)]
struct Entity {
    sessions: u32,
    last_seen: Millis,
    /// Set while the entity has no session but is still shown online.
    grace_until: Option<Millis>,
    /// The `(online, sessions)` watchers were last told.
    shown: (bool, u32),
}

impl Entity {
    fn visible(&self) -> (bool, u32) {
        if self.sessions > 0 {
            (true, self.sessions)
        } else if self.grace_until.is_some() {
            self.shown
        } else {
            (false, 0)
        }
    }

    fn status(&self) -> EntityStatus {
        let (online, sessions) = self.visible();
        EntityStatus {
            online,
            sessions,
            last_seen: Some(self.last_seen),
        }
    }
}

/// What storage must learn about entities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntitySeen {
    pub entity: String,
    pub last_seen: Millis,
}

/// The entities of one site.
#[derive(Debug)]
pub struct Entities {
    grace_ms: Millis,
    live: HashMap<Rc<str>, Entity>,
    graces: Deadlines<Rc<str>>,
    /// Visible status changes not yet taken by the edge.
    changes: Vec<(Rc<str>, EntityStatus)>,
    /// Last-seen times to store, not yet taken by the edge.
    seen_writes: Vec<EntitySeen>,
}

impl Entities {
    pub fn new(grace_ms: Millis) -> Self {
        Entities {
            grace_ms,
            live: HashMap::new(),
            graces: Deadlines::default(),
            changes: Vec::new(),
            seen_writes: Vec::new(),
        }
    }

    /// The status of an entity held in memory (online or in its grace); `None` otherwise.
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

    /// Counts one more session of `entity`, ending its grace if it was in one.
    fn add_session(&mut self, entity: &Rc<str>, last_seen: Millis) -> &mut Entity {
        let e = self.live.entry(entity.clone()).or_insert(Entity {
            sessions: 0,
            last_seen,
            grace_until: None,
            shown: (false, 0),
        });
        e.sessions += 1;
        e.last_seen = e.last_seen.max(last_seen);
        if let Some(until) = e.grace_until.take() {
            self.graces.remove(until, entity);
        }
        e
    }

    /// A session of `entity` began at `now`; its start is stored as a last sign of life.
    pub fn session_started(&mut self, entity: &Rc<str>, now: Millis) {
        let e = self.add_session(entity, now);
        let seen = EntitySeen {
            entity: entity.to_string(),
            last_seen: e.last_seen,
        };
        let change = Self::announce(entity, e);
        self.seen_writes.push(seen);
        self.changes.extend(change);
    }

    /// A session of `entity` came back from storage after a restart; the entity was last seen
    /// at `last_seen`. Nothing is written or announced.
    pub fn session_restored(&mut self, entity: &Rc<str>, last_seen: Millis) {
        let e = self.add_session(entity, last_seen);
        e.shown = e.visible();
    }

    /// A sign of life of one of the entity's sessions (kept in memory only).
    pub fn seen(&mut self, entity: &str, at: Millis) {
        if let Some(e) = self.live.get_mut(entity) {
            e.last_seen = e.last_seen.max(at);
        }
    }

    /// A session of `entity` ended at `now`; its last sign of life was `last_seen`.
    pub fn session_ended(&mut self, entity: &str, now: Millis, last_seen: Millis) {
        let Some(name) = self.live.get_key_value(entity).map(|(k, _)| k.clone()) else {
            return;
        };
        let Some(e) = self.live.get_mut(entity) else {
            return;
        };
        e.sessions = e.sessions.saturating_sub(1);
        e.last_seen = e.last_seen.max(last_seen);
        self.seen_writes.push(EntitySeen {
            entity: entity.to_owned(),
            last_seen: e.last_seen,
        });
        if e.sessions == 0 {
            let until = now + self.grace_ms;
            e.grace_until = Some(until);
            self.graces.insert(until, name.clone());
        }
        self.changes.extend(Self::announce(&name, e));
    }

    /// Ends the graces that ran out by `now`: those entities go offline.
    pub fn expire(&mut self, now: Millis) {
        while let Some((_, name)) = self.graces.pop_due(now) {
            if let Some(mut e) = self.live.remove(&name) {
                e.grace_until = None;
                self.changes.extend(Self::announce(&name, &mut e));
            }
        }
    }

    /// The earliest grace that runs out.
    pub fn next_wake(&self) -> Option<Millis> {
        self.graces.next()
    }

    /// The change watchers must hear of, if what they see of `e` changed.
    fn announce(name: &Rc<str>, e: &mut Entity) -> Option<(Rc<str>, EntityStatus)> {
        let visible = e.visible();
        (visible != e.shown).then(|| {
            e.shown = visible;
            (name.clone(), e.status())
        })
    }

    /// Visible status changes since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<(Rc<str>, EntityStatus)> {
        std::mem::take(&mut self.changes)
    }

    /// Last-seen times to store since the last call.
    pub fn take_seen_writes(&mut self) -> Vec<EntitySeen> {
        std::mem::take(&mut self.seen_writes)
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

    fn names(changes: &[(Rc<str>, EntityStatus)]) -> Vec<(bool, u32)> {
        changes
            .iter()
            .map(|(_, s)| (s.online, s.sessions))
            .collect()
    }

    #[test]
    fn online_while_a_session_lives_and_offline_only_after_the_grace() {
        let mut e = Entities::new(GRACE);
        e.session_started(&"user:42".into(), 1_000);
        assert_eq!(names(&e.take_changes()), [(true, 1)]);
        e.session_ended("user:42", 2_000, 2_000);
        assert!(
            e.take_changes().is_empty(),
            "no message when the grace starts"
        );
        assert!(e.status("user:42").unwrap().online);
        assert_eq!(e.next_wake(), Some(2_000 + GRACE));
        e.expire(2_000 + GRACE - 1);
        assert!(e.status("user:42").is_some());
        e.expire(2_000 + GRACE);
        assert_eq!(names(&e.take_changes()), [(false, 0)]);
        assert_eq!(e.status("user:42"), None, "offline entities leave memory");
    }

    #[test]
    fn a_reload_inside_the_grace_sends_nothing() {
        let mut e = Entities::new(GRACE);
        e.session_started(&"user:1".into(), 0);
        e.take_changes();
        e.session_ended("user:1", 100, 100);
        e.session_started(&"user:1".into(), 400);
        e.expire(10_000);
        assert!(e.take_changes().is_empty());
        assert_eq!(e.status("user:1").unwrap().sessions, 1);
    }

    #[test]
    fn two_devices_count_two_and_one_leaving_keeps_it_online() {
        let mut e = Entities::new(GRACE);
        e.session_started(&"user:1".into(), 0);
        e.session_started(&"user:1".into(), 10);
        e.session_ended("user:1", 20, 20);
        e.expire(20 + GRACE);
        assert_eq!(names(&e.take_changes()), [(true, 1), (true, 2), (true, 1)]);
        assert!(e.status("user:1").unwrap().online);
    }

    #[test]
    fn last_seen_follows_signs_of_life_and_is_written_on_start_and_end_only() {
        let mut e = Entities::new(GRACE);
        e.session_started(&"u:1".into(), 1_000);
        assert_eq!(e.take_seen_writes().len(), 1);
        e.seen("u:1", 5_000);
        e.seen("u:1", 4_000);
        assert!(
            e.take_seen_writes().is_empty(),
            "signs of life write nothing"
        );
        assert_eq!(e.status("u:1").unwrap().last_seen, Some(5_000));
        e.session_ended("u:1", 9_000, 6_000);
        assert_eq!(
            e.take_seen_writes(),
            [EntitySeen {
                entity: "u:1".into(),
                last_seen: 6_000
            }]
        );
        e.expire(9_000 + GRACE);
        let changes = e.take_changes();
        assert_eq!(changes.last().unwrap().1.last_seen, Some(6_000));
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
