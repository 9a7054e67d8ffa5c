//! `MAX_ROOMS`: which rooms keep their names once a site has more rooms than that.
//!
//! The object that keeps the site holds its **slots** (an unsharded site's object over its own
//! rooms, the coordinator over every object's):
//!
//! - While the site's rooms fit in `max_rooms`, every room keeps its name and nothing is folded
//!   (the common case costs one comparison per change).
//! - Past it, the site is **full**: `max_rooms` rooms keep their names, and every other room is
//!   counted in `~other`, in the totals, `/v1/rooms` and the counts of a room (a grouped room's
//!   own count is 0). The names go to the rooms that hold sessions from the most **distinct
//!   client addresses**, so rooms made up by a few addresses cannot push a room with visitors
//!   from more addresses into `~other`. Among equals, the room that had its name first keeps it
//!   (no flicker at the boundary); a room waiting takes a slot only with strictly more
//!   addresses than the weakest named room, or when a slot frees.
//! - On a sharded site the coordinator tells the shards (with a version, the list only when
//!   theirs is old), so every object counts a room as the site does.

use std::collections::HashMap;

use super::types::{Counts, Millis, OVERFLOW_ROOM};

/// A room's counts and its distinct client addresses (over the site, or one object's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomStats {
    pub counts: Counts,
    pub addresses: u32,
    /// When it got its first session (the earliest over the objects).
    pub since: Millis,
}

impl RoomStats {
    pub fn add(self, other: RoomStats) -> RoomStats {
        let since = match (self.counts.sessions, other.counts.sessions) {
            (0, _) => other.since,
            (_, 0) => self.since,
            _ => self.since.min(other.since),
        };
        RoomStats {
            counts: Counts {
                sessions: self.counts.sessions + other.counts.sessions,
                visitors: self.counts.visitors + other.counts.visitors,
            },
            addresses: self.addresses + other.addresses,
            since,
        }
    }
}

#[derive(Debug)]
pub struct RoomSlots {
    max: usize,
    /// The site holds more rooms than `max`: only `named` keep their names.
    full: bool,
    /// Bumped on each change of `full` or `named` (the shards hold a version).
    version: u64,
    /// The named rooms, each with when it got its name (the earlier keeps it among equals).
    named: HashMap<String, u64>,
    next_order: u64,
}

impl RoomSlots {
    pub fn new(max: usize) -> Self {
        RoomSlots {
            max,
            full: false,
            version: 0,
            named: HashMap::new(),
            next_order: 0,
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
        !self.full || room == OVERFLOW_ROOM || self.named.contains_key(room)
    }

    /// The named rooms, sorted (what a shard is told).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.named.keys().cloned().collect();
        crate::sort::sort(&mut v);
        v
    }

    /// The site's rooms changed. `upper` bounds how many rooms the site has (the objects' room
    /// counts added up); `merged` gives every room's stats over the site, asked only when
    /// `upper` exceeds `max`. Answers whether the slots changed.
    pub fn update(
        &mut self,
        upper: usize,
        merged: impl FnOnce() -> HashMap<String, RoomStats>,
    ) -> bool {
        if upper <= self.max && !self.full {
            return false;
        }
        let merged = merged();
        let present: Vec<(&String, &RoomStats)> = merged
            .iter()
            .filter(|(r, s)| r.as_str() != OVERFLOW_ROOM && s.counts.sessions > 0)
            .collect();
        if present.len() <= self.max {
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
            .retain(|r, _| merged.get(r).is_some_and(|s| s.counts.sessions > 0));
        let mut changed = !self.full || self.named.len() != before;
        let mut waiting: Vec<(&String, &RoomStats)> = present
            .into_iter()
            .filter(|(r, _)| !self.named.contains_key(*r))
            .collect();
        // the strongest first: most addresses, then the oldest room, then the busiest, then
        // the name
        crate::sort::sort_by(&mut waiting, |a, b| {
            b.1.addresses
                .cmp(&a.1.addresses)
                .then(a.1.since.cmp(&b.1.since))
                .then(b.1.counts.sessions.cmp(&a.1.counts.sessions))
                .then(b.1.counts.visitors.cmp(&a.1.counts.visitors))
                .then(a.0.cmp(b.0))
        });
        for (room, stats) in waiting {
            if self.named.len() < self.max {
                self.name(room);
                changed = true;
                continue;
            }
            let Some((weakest, addresses)) = self.weakest(&merged) else {
                break;
            };
            if stats.addresses <= addresses {
                break; // no room waiting has more addresses than the weakest named one
            }
            self.named.remove(&weakest);
            self.name(room);
            changed = true;
        }
        self.full = true;
        if changed {
            self.version = self.version.wrapping_add(1);
        }
        changed
    }

    fn name(&mut self, room: &str) {
        self.named.insert(room.to_owned(), self.next_order);
        self.next_order += 1;
    }

    /// The named room that gives up its slot first: the fewest addresses, and among equals the
    /// one named last.
    fn weakest(&self, merged: &HashMap<String, RoomStats>) -> Option<(String, u32)> {
        self.named
            .iter()
            .map(|(r, order)| {
                let addresses = merged.get(r).map_or(0, |s| s.addresses);
                (addresses, std::cmp::Reverse(*order), r)
            })
            .min()
            .map(|(addresses, _, r)| (r.clone(), addresses))
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
            self.named = names.into_iter().map(|n| (n, 0)).collect();
            self.version = version;
            self.full = true;
        }
        // a version without its list: the list is on its way (the shard reported an old one)
    }

    /// The site's rooms as its answers show them: while full, the rooms without a slot are
    /// left out, and `other` (the group's counts, kept exactly by each object) is `~other`.
    pub fn fold(
        &self,
        merged: &HashMap<String, RoomStats>,
        other: Counts,
    ) -> HashMap<String, Counts> {
        let mut out: HashMap<String, Counts> = merged
            .iter()
            .filter(|(r, s)| s.counts.sessions > 0 && r.as_str() != OVERFLOW_ROOM && self.keeps(r))
            .map(|(r, s)| (r.clone(), s.counts))
            .collect();
        if other.sessions > 0 {
            out.insert(OVERFLOW_ROOM.to_owned(), other);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` sessions from `a` addresses (one visitor each).
    fn st(s: u32, a: u32) -> RoomStats {
        RoomStats {
            counts: Counts {
                sessions: s,
                visitors: s,
            },
            addresses: a,
            since: 0,
        }
    }

    fn rooms(list: &[(&str, u32, u32)]) -> HashMap<String, RoomStats> {
        list.iter()
            .map(|(r, s, a)| (r.to_string(), st(*s, *a)))
            .collect()
    }

    #[test]
    fn under_the_cap_nothing_is_folded_and_the_merge_is_not_even_asked() {
        let mut s = RoomSlots::new(3);
        assert!(!s.update(3, || panic!("not asked under the cap")));
        assert!(!s.is_full());
        assert!(s.keeps("/any"));
        assert_eq!(s.version(), 0);
        // an upper bound past the cap (a room on two objects) that is really under it
        assert!(!s.update(4, || rooms(&[("/a", 1, 1), ("/b", 2, 2), ("/c", 1, 1)])));
        assert!(!s.is_full());
    }

    #[test]
    fn past_the_cap_the_rooms_with_the_most_addresses_keep_their_names() {
        let mut s = RoomSlots::new(2);
        let merged = rooms(&[("/a", 5, 5), ("/b", 1, 1), ("/c", 3, 3)]);
        assert!(s.update(3, || merged.clone()));
        assert!(s.is_full());
        assert_eq!(s.names(), ["/a", "/c"]);
        let v1 = s.version();
        assert!(v1 > 0);
        let folded = s.fold(
            &merged,
            Counts {
                sessions: 1,
                visitors: 1,
            },
        );
        assert_eq!(folded.len(), 3, "two named rooms and ~other");
        assert_eq!(folded["/a"], st(5, 5).counts);
        assert_eq!(folded[OVERFLOW_ROOM], st(1, 1).counts);
        // many sessions from one address do not take a slot
        assert!(!s.update(4, || rooms(&[("/a", 5, 5), ("/b", 90, 1), ("/c", 3, 3)])));
        assert_eq!(s.version(), v1);
        assert!(!s.keeps("/b"));
        // a room with as many addresses as the weakest named one waits (no flicker)...
        assert!(!s.update(4, || rooms(&[("/a", 5, 5), ("/b", 3, 3), ("/c", 3, 3)])));
        assert!(!s.keeps("/b"));
        // ...and one with more takes its slot
        assert!(s.update(4, || rooms(&[("/a", 5, 5), ("/b", 4, 4), ("/c", 3, 3)])));
        assert_eq!(s.names(), ["/a", "/b"]);
        // a slot that frees goes to the strongest room waiting
        assert!(s.update(4, || rooms(&[
            ("/b", 4, 4),
            ("/c", 3, 3),
            ("/d", 2, 2),
            ("/e", 1, 1)
        ])));
        assert_eq!(s.names(), ["/b", "/c"]);
        // back under the cap: nothing folds any more
        assert!(s.update(2, || rooms(&[("/b", 4, 4), ("/c", 3, 3)])));
        assert!(!s.is_full());
        assert_eq!(s.version(), 0);
        assert!(s.keeps("/z"));
    }

    #[test]
    fn among_equals_the_room_named_first_keeps_its_name() {
        let mut s = RoomSlots::new(2);
        assert!(s.update(3, || rooms(&[("/a", 1, 1), ("/b", 1, 1), ("/c", 1, 1)])));
        let named = s.names();
        assert_eq!(named.len(), 2);
        for round in 0..10 {
            // the grouped room gains an address: it takes the slot of the one named last
            let extra = rooms(&[("/a", 1, 1), ("/b", 1, 1), ("/c", 1, 1), ("/z", 2, 2)]);
            let changed = s.update(4, || extra.clone());
            assert_eq!(changed, round == 0, "round {round}");
            assert!(s.keeps("/z"));
        }
        let kept: Vec<&String> = named.iter().filter(|r| s.keeps(r)).collect();
        assert_eq!(
            kept,
            ["/a"],
            "/a was named first (the order of the first update)"
        );
    }

    #[test]
    fn a_shard_follows_the_coordinators_list_by_version() {
        let mut coordinator = RoomSlots::new(2);
        coordinator.update(3, || rooms(&[("/a", 2, 2), ("/b", 1, 1), ("/c", 1, 1)]));
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
