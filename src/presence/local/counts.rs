//! The tallies: live sessions, distinct visitors and distinct client addresses of the site and
//! of each room, kept up to date on every join, move and end (never recounted on a read).
//!
//! Every room a visible session is in is tallied under its own name. Past `MAX_ROOMS`, only the
//! rooms the site's slots name (`slots.rs`: the rooms with sessions from the most distinct
//! addresses) are counted under their names; the others are counted together in
//! [`OVERFLOW_ROOM`], whose tally is kept as well (so its distinct visitors are exact), and
//! their own counts read 0. A room moves between the two when the slots change, with its whole
//! tally: no session is touched.
//!
//! Room names are shared (`Rc<str>`) between the tallies, the sessions in them and the sockets
//! viewing them.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::super::slots::{RoomSlots, RoomStats};
use super::super::types::{AddressKey, Counts, Millis, RoomCounts, VisitorKey, OVERFLOW_ROOM};

/// Sessions and distinct visitors of one scope (the site, a room, the overflow group).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    sessions: u32,
    visitors: HashMap<VisitorKey, u32>,
}

impl Tally {
    pub fn add(&mut self, v: VisitorKey) {
        self.sessions += 1;
        *self.visitors.entry(v).or_insert(0) += 1;
    }

    pub fn remove(&mut self, v: VisitorKey) {
        self.sessions = self.sessions.saturating_sub(1);
        take(&mut self.visitors, v);
    }

    /// Adds every session of `other`.
    fn absorb(&mut self, other: &Tally) {
        self.sessions += other.sessions;
        for (v, n) in &other.visitors {
            *self.visitors.entry(*v).or_insert(0) += n;
        }
    }

    /// Takes every session of `other` out (they were absorbed before).
    fn release(&mut self, other: &Tally) {
        self.sessions = self.sessions.saturating_sub(other.sessions);
        for (v, n) in &other.visitors {
            if let Some(m) = self.visitors.get_mut(v) {
                *m = m.saturating_sub(*n);
                if *m == 0 {
                    self.visitors.remove(v);
                }
            }
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            sessions: self.sessions,
            visitors: self.visitors.len() as u32,
        }
    }
}

/// One less of `key` in a multiset; answers whether it is gone.
fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) -> bool {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
            return true;
        }
    }
    false
}

/// One room under its own name.
#[derive(Debug, Default)]
struct Room {
    tally: Tally,
    /// Its sessions' client addresses (a multiset).
    addresses: HashMap<AddressKey, u32>,
    /// Counted under its name (else in the overflow group).
    named: bool,
    /// When it got its first session here (among equals, the older room keeps its name).
    since: Millis,
}

/// A change of a visible session, for [`Tallies::add`] and [`Tallies::remove`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counted<'a> {
    pub room: &'a Rc<str>,
    pub visitor: VisitorKey,
    pub address: AddressKey,
    /// It carries no entity (the members of a room count these).
    pub anonymous: bool,
    pub at: Millis,
}

#[derive(Debug, Default)]
pub(crate) struct Tallies {
    site: Tally,
    rooms: HashMap<Rc<str>, Room>,
    /// The rooms without a slot, together.
    other: Tally,
    /// Every room keeps its name (the site is not past `MAX_ROOMS`), else only the named.
    full: bool,
    /// Some count changed since the broadcast last looked.
    changed: bool,
    /// A room appeared or emptied, or its distinct addresses changed, since the site's room
    /// slots last looked.
    rooms_changed: bool,
    /// Rooms whose anonymous counts changed since the members feed last looked.
    anonymous_changed: HashSet<Rc<str>>,
}

impl Tallies {
    /// The shared name of `room` (the one its tally holds, or a new one).
    pub fn intern(&self, room: &str) -> Rc<str> {
        match self.rooms.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => Rc::from(room),
        }
    }

    /// Counts a visible session.
    pub fn add(&mut self, c: Counted<'_>) {
        self.site.add(c.visitor);
        let full = self.full;
        let room = self.rooms.entry(c.room.clone()).or_insert_with(|| Room {
            named: !full && &**c.room != OVERFLOW_ROOM,
            since: c.at,
            ..Room::default()
        });
        if room.tally.sessions == 0 {
            self.rooms_changed = true;
        }
        room.tally.add(c.visitor);
        let first = *room.addresses.entry(c.address).or_insert(0) == 0;
        *room.addresses.entry(c.address).or_insert(0) += 1;
        if first {
            self.rooms_changed = true;
        }
        if !room.named {
            self.other.add(c.visitor);
        }
        if c.anonymous {
            self.anonymous_changed.insert(c.room.clone());
        }
        self.changed = true;
    }

    pub fn remove(&mut self, c: Counted<'_>) {
        self.site.remove(c.visitor);
        if let Some(room) = self.rooms.get_mut(c.room) {
            room.tally.remove(c.visitor);
            if take(&mut room.addresses, c.address) {
                self.rooms_changed = true;
            }
            if !room.named {
                self.other.remove(c.visitor);
            }
            if room.tally.sessions == 0 {
                self.rooms.remove(c.room);
                self.rooms_changed = true;
            }
        }
        if c.anonymous {
            self.anonymous_changed.insert(c.room.clone());
        }
        self.changed = true;
    }

    /// The site's slots changed: each room is counted under its name or in the group as they
    /// say. Answers whether anything moved.
    pub fn follow(&mut self, slots: &RoomSlots) -> bool {
        self.full = slots.is_full();
        let mut moved = false;
        for (name, room) in &mut self.rooms {
            let named = slots.keeps(name) && &**name != OVERFLOW_ROOM;
            if named == room.named {
                continue;
            }
            room.named = named;
            if named {
                self.other.release(&room.tally);
            } else {
                self.other.absorb(&room.tally);
            }
            moved = true;
        }
        self.changed |= moved;
        moved
    }

    /// Whether sessions of `room` are counted under its name.
    pub fn is_named(&self, room: &str) -> bool {
        match self.rooms.get(room) {
            Some(r) => r.named,
            None => !self.full && room != OVERFLOW_ROOM,
        }
    }

    /// Rooms whose anonymous sessions changed since the last call (the members of those rooms
    /// count them; they are counted when asked, not kept, as few rooms have a members feed).
    pub fn take_anonymous_changed(&mut self) -> Vec<Rc<str>> {
        self.anonymous_changed.drain().collect()
    }

    /// Whether a room appeared, emptied or changed its distinct addresses since the last call
    /// (for the site's room slots).
    pub fn take_rooms_changed(&mut self) -> bool {
        std::mem::take(&mut self.rooms_changed)
    }

    /// Whether any count changed since the last call (for the broadcast).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    pub fn site(&self) -> Counts {
        self.site.counts()
    }

    /// A room's counts as answers show them: a named room's own, the group's for
    /// [`OVERFLOW_ROOM`], 0 for a room counted in the group.
    pub fn room(&self, room: &str) -> Counts {
        if room == OVERFLOW_ROOM {
            return self.other.counts();
        }
        match self.rooms.get(room) {
            Some(r) if r.named => r.tally.counts(),
            _ => Counts::default(),
        }
    }

    /// How many rooms hold sessions here, under their names or not.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The rooms as answers show them, busiest first (by sessions, then visitors, then name),
    /// at most `limit`: the named rooms, and the group when it holds any.
    pub fn top(&self, limit: usize) -> Vec<RoomCounts> {
        top_of(self.shown().collect(), limit)
    }

    /// The rooms as answers show them, by name.
    pub fn list(&self) -> Vec<RoomCounts> {
        let mut list: Vec<RoomCounts> = self.shown().map(|(r, c)| RoomCounts::new(r, c)).collect();
        crate::sort::sort_by(&mut list, |a, b| a.room.cmp(&b.room));
        list
    }

    fn shown(&self) -> impl Iterator<Item = (&str, Counts)> {
        let other = (self.other.sessions > 0).then(|| (OVERFLOW_ROOM, self.other.counts()));
        self.rooms
            .iter()
            .filter(|(_, r)| r.named)
            .map(|(name, r)| (&**name, r.tally.counts()))
            .chain(other)
    }

    /// Every room under its own name, with its distinct addresses (for the site's slots and a
    /// shard's report).
    pub fn stats(&self) -> HashMap<String, RoomStats> {
        self.rooms
            .iter()
            .map(|(name, r)| {
                let stats = RoomStats {
                    counts: r.tally.counts(),
                    addresses: r.addresses.len() as u32,
                    since: r.since,
                };
                (name.to_string(), stats)
            })
            .collect()
    }

    /// The group's counts (the rooms without a slot, together).
    pub fn other(&self) -> Counts {
        self.other.counts()
    }
}

/// The busiest of `rooms` first (by sessions, then visitors, then name), at most `limit`.
pub(crate) fn top_of(mut all: Vec<(&str, Counts)>, limit: usize) -> Vec<RoomCounts> {
    if limit == 0 {
        return Vec::new();
    }
    let order = |a: &(&str, Counts), b: &(&str, Counts)| {
        b.1.sessions
            .cmp(&a.1.sessions)
            .then(b.1.visitors.cmp(&a.1.visitors))
            .then(a.0.cmp(b.0))
    };
    crate::sort::sort_by(&mut all, order);
    all.truncate(limit);
    all.into_iter()
        .map(|(r, c)| RoomCounts::new(r, c))
        .collect()
}
