//! `MAX_ROOMS` per site on a sharded site: which rooms keep their names.
//!
//! One object caps its own rooms (see `counts.rs`): past `max_rooms`, new rooms are counted in
//! [`OVERFLOW_ROOM`]. A site over K objects must cap the site, not each object, or it could
//! list K times as many rooms, and a room could keep its name on one object while another
//! groups it. So the coordinator holds the site's **slots**:
//!
//! - While the site's rooms (over every object) fit in `max_rooms`, every room keeps its name
//!   and nothing is folded (the common case costs one comparison per change).
//! - Past it, the site is **full**: `max_rooms` rooms keep their names (the busiest when it
//!   fills), each while it has sessions anywhere (names never flicker at the boundary); a slot
//!   that frees goes to the busiest room waiting. Every other room is counted in `~other`, in
//!   the totals, `/v1/rooms` and the counts of a room (a grouped room's own count is 0, as on
//!   one object).
//! - The coordinator tells the shards (with a version, the list only when theirs is old), so
//!   each object places a new session as the site does: a named room by its name, another in
//!   `~other` while the site is full.

use std::collections::{HashMap, HashSet};

use super::types::{Counts, OVERFLOW_ROOM};

#[derive(Debug)]
pub struct RoomSlots {
    max: usize,
    /// The site holds more rooms than `max`: only `named` keep their names.
    full: bool,
    /// Bumped on each change of `full` or `named` (the shards hold a version).
    version: u64,
    named: HashSet<String>,
}

impl RoomSlots {
    pub fn new(max: usize) -> Self {
        RoomSlots {
            max,
            full: false,
            version: 0,
            named: HashSet::new(),
        }
    }

    /// Versions start from this instance's id, so a shard never mistakes a restarted
    /// coordinator's list for the one it holds.
    pub fn start_at(&mut self, instance: u64) {
        self.version = instance;
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The version a shard reports it holds (0: not full).
    pub fn version(&self) -> u64 {
        if self.full {
            self.version.max(1)
        } else {
            0
        }
    }

    /// Whether sessions of `room` are counted under its name (always, unless the site is full).
    pub fn keeps(&self, room: &str) -> bool {
        !self.full || room == OVERFLOW_ROOM || self.named.contains(room)
    }

    /// The named rooms, sorted (what a shard is told).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.named.iter().cloned().collect();
        v.sort_unstable();
        v
    }

    /// The coordinator: the site's rooms changed. `upper` bounds how many rooms the site has
    /// (the objects' room counts added up); `merged` gives every room's counts over the site,
    /// asked only when `upper` exceeds `max`. Answers whether the slots changed.
    pub fn update(
        &mut self,
        upper: usize,
        merged: impl FnOnce() -> HashMap<String, Counts>,
    ) -> bool {
        if upper <= self.max && !self.full {
            return false;
        }
        let merged = merged();
        let present = merged
            .iter()
            .filter(|(r, c)| r.as_str() != OVERFLOW_ROOM && c.sessions > 0)
            .count();
        if present <= self.max {
            if !self.full {
                return false;
            }
            self.full = false;
            self.named.clear();
            self.version = self.version.wrapping_add(1);
            return true;
        }
        let before = self.named.len();
        self.named
            .retain(|r| merged.get(r).is_some_and(|c| c.sessions > 0));
        let mut changed = !self.full || self.named.len() != before;
        if self.named.len() < self.max {
            let mut candidates: Vec<(&String, &Counts)> = merged
                .iter()
                .filter(|(r, c)| {
                    r.as_str() != OVERFLOW_ROOM && c.sessions > 0 && !self.named.contains(*r)
                })
                .collect();
            candidates.sort_unstable_by(|a, b| {
                b.1.sessions
                    .cmp(&a.1.sessions)
                    .then(b.1.visitors.cmp(&a.1.visitors))
                    .then(a.0.cmp(b.0))
            });
            let room_left = self.max - self.named.len();
            for (r, _) in candidates.into_iter().take(room_left) {
                self.named.insert(r.clone());
                changed = true;
            }
        }
        self.full = true;
        if changed {
            self.version = self.version.wrapping_add(1);
        }
        changed
    }

    /// A shard: what the coordinator said (`version` 0: not full; `names` with a new version).
    pub fn learn(&mut self, version: u64, names: Option<Vec<String>>) {
        if version == 0 {
            self.full = false;
            self.named.clear();
            self.version = 0;
            return;
        }
        if let Some(names) = names {
            self.named = names.into_iter().collect();
            self.version = version;
            self.full = true;
        }
        // a version without its list: the list is on its way (the shard reported an old one)
    }

    /// The site's rooms as its answers show them: while full, the rooms without a slot are
    /// added into `~other`.
    pub fn fold(&self, mut merged: HashMap<String, Counts>) -> HashMap<String, Counts> {
        if !self.full {
            return merged;
        }
        let mut other = merged.remove(OVERFLOW_ROOM).unwrap_or_default();
        merged.retain(|r, c| {
            let keep = self.named.contains(r);
            if !keep {
                other.sessions += c.sessions;
                other.visitors += c.visitors;
            }
            keep
        });
        if other.sessions > 0 {
            merged.insert(OVERFLOW_ROOM.to_owned(), other);
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: u32) -> Counts {
        Counts {
            sessions: s,
            visitors: s,
        }
    }

    fn rooms(list: &[(&str, u32)]) -> HashMap<String, Counts> {
        list.iter().map(|(r, s)| (r.to_string(), c(*s))).collect()
    }

    #[test]
    fn under_the_cap_nothing_is_folded_and_the_merge_is_not_even_asked() {
        let mut s = RoomSlots::new(3);
        assert!(!s.update(3, || panic!("not asked under the cap")));
        assert!(!s.is_full());
        assert!(s.keeps("/any"));
        assert_eq!(s.version(), 0);
        // an upper bound past the cap (a room on two objects) that is really under it
        assert!(!s.update(4, || rooms(&[("/a", 1), ("/b", 2), ("/c", 1)])));
        assert!(!s.is_full());
    }

    #[test]
    fn past_the_cap_the_busiest_keep_their_names_then_first_come_and_the_rest_fold() {
        let mut s = RoomSlots::new(2);
        let merged = rooms(&[("/a", 5), ("/b", 1), ("/c", 3), (OVERFLOW_ROOM, 2)]);
        assert!(s.update(4, || merged.clone()));
        assert!(s.is_full());
        assert_eq!(s.names(), ["/a", "/c"]);
        let v1 = s.version();
        assert!(v1 > 0);
        let folded = s.fold(merged);
        assert_eq!(folded.len(), 3, "two named rooms and ~other");
        assert_eq!(folded["/a"], c(5));
        assert_eq!(folded["/c"], c(3));
        assert_eq!(
            folded[OVERFLOW_ROOM],
            c(3),
            "/b's 1 and the 2 grouped already"
        );
        // /b grows past /c: names stay where they are (no flicker at the boundary)
        assert!(!s.update(4, || rooms(&[("/a", 5), ("/b", 9), ("/c", 3), ("/d", 1)])));
        assert_eq!(s.version(), v1);
        assert!(!s.keeps("/b"));
        // /c empties: its slot goes to the busiest room waiting
        assert!(s.update(4, || rooms(&[("/a", 5), ("/b", 9), ("/d", 1), ("/e", 2)])));
        assert_eq!(s.names(), ["/a", "/b"]);
        assert!(s.version() > v1);
        // back under the cap: nothing folds any more
        assert!(s.update(3, || rooms(&[("/a", 5), ("/b", 9)])));
        assert!(!s.is_full());
        assert_eq!(s.version(), 0);
        assert!(s.keeps("/z"));
    }

    #[test]
    fn a_shard_follows_the_coordinators_list_by_version() {
        let mut coordinator = RoomSlots::new(2);
        coordinator.update(3, || rooms(&[("/a", 2), ("/b", 1), ("/c", 1)]));
        let mut shard = RoomSlots::new(2);
        shard.learn(coordinator.version(), None);
        assert!(
            !shard.is_full(),
            "a version without its list changes nothing"
        );
        shard.learn(coordinator.version(), Some(coordinator.names()));
        assert!(shard.is_full());
        assert_eq!(shard.version(), coordinator.version());
        assert_eq!(shard.names(), coordinator.names());
        assert!(shard.keeps("/a") && !shard.keeps("/zz") && shard.keeps(OVERFLOW_ROOM));
        shard.learn(0, None);
        assert!(!shard.is_full() && shard.keeps("/zz"));
    }
}
