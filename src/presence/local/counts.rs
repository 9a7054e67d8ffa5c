//! The tallies: live sessions and distinct visitors of the site and of each room, kept up to
//! date on every join, move and end (never recounted on a read). A room is listed while it
//! has a session; past `max_rooms` new rooms are counted in [`OVERFLOW_ROOM`].
//!
//! Room names are shared (`Rc<str>`) between the tallies, the sessions in them and the sockets
//! viewing them: a site has few rooms and many sessions.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::super::slots::RoomSlots;
use super::super::types::{Counts, RoomCounts, VisitorKey, OVERFLOW_ROOM};

/// Sessions and distinct visitors of one scope (the site or a room).
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
        if let Some(n) = self.visitors.get_mut(&v) {
            *n -= 1;
            if *n == 0 {
                self.visitors.remove(&v);
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

#[derive(Debug)]
pub(crate) struct Tallies {
    site: Tally,
    rooms: HashMap<Rc<str>, Tally>,
    max_rooms: usize,
    /// Some count changed since the broadcast last looked.
    changed: bool,
    /// A room appeared or emptied since the site's room slots last looked.
    rooms_changed: bool,
    /// Rooms whose anonymous counts changed since the members feed last looked.
    anonymous_changed: HashSet<Rc<str>>,
}

impl Tallies {
    pub fn new(max_rooms: usize) -> Self {
        Tallies {
            site: Tally::default(),
            rooms: HashMap::new(),
            max_rooms,
            changed: false,
            rooms_changed: false,
            anonymous_changed: HashSet::new(),
        }
    }

    /// The room a session naming `room` is counted in: its own, or the overflow group once the
    /// site has `max_rooms` rooms. A session already in the group (`current`) stays there while
    /// its room would still overflow, so its heartbeats never move it. On a sharded site the
    /// site's `slots` decide once the site is full: a room with a slot by its name, any other
    /// in the group.
    pub fn place(
        &self,
        room: &str,
        current: Option<&Rc<str>>,
        slots: Option<&RoomSlots>,
    ) -> Rc<str> {
        if let Some((name, _)) = self.rooms.get_key_value(room) {
            return name.clone();
        }
        let open = if let Some(slots) = slots.filter(|s| s.is_full()) {
            // the site's named rooms are at most max_rooms; local leftovers from before it
            // filled are bounded by the same number again
            slots.keeps(room) && room != OVERFLOW_ROOM && self.rooms.len() < 2 * self.max_rooms
        } else {
            self.rooms.len() < self.max_rooms
        };
        if open {
            return match current {
                Some(c) if &**c == room => c.clone(),
                _ => Rc::from(room),
            };
        }
        match self.rooms.get_key_value(OVERFLOW_ROOM) {
            Some((name, _)) => name.clone(),
            None => match current {
                Some(c) if &**c == OVERFLOW_ROOM => c.clone(),
                _ => Rc::from(OVERFLOW_ROOM),
            },
        }
    }

    /// The shared name of `room` (no overflow rule: for rooms placed before).
    pub fn intern(&self, room: &str) -> Rc<str> {
        match self.rooms.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => Rc::from(room),
        }
    }

    /// Counts a visible session in `room`; `anonymous` when it carries no entity.
    pub fn add(&mut self, room: &Rc<str>, v: VisitorKey, anonymous: bool) {
        self.site.add(v);
        let tally = self.rooms.entry(room.clone()).or_insert_with(|| {
            self.rooms_changed = true;
            Tally::default()
        });
        tally.add(v);
        if anonymous {
            self.anonymous_changed.insert(room.clone());
        }
        self.changed = true;
    }

    pub fn remove(&mut self, room: &Rc<str>, v: VisitorKey, anonymous: bool) {
        self.site.remove(v);
        if Self::take_from(&mut self.rooms, room, v) {
            self.rooms_changed = true;
        }
        if anonymous {
            self.anonymous_changed.insert(room.clone());
        }
        self.changed = true;
    }

    /// Takes `v` out of `room`; answers whether the room emptied (and is gone).
    fn take_from(map: &mut HashMap<Rc<str>, Tally>, room: &str, v: VisitorKey) -> bool {
        if let Some(t) = map.get_mut(room) {
            t.remove(v);
            if t.counts().sessions == 0 {
                map.remove(room);
                return true;
            }
        }
        false
    }

    /// Rooms whose anonymous sessions changed since the last call (the members of those rooms
    /// count them; they are counted when asked, not kept, as few rooms have a members feed).
    pub fn take_anonymous_changed(&mut self) -> Vec<Rc<str>> {
        self.anonymous_changed.drain().collect()
    }

    /// Whether a room appeared or emptied since the last call (for the site's room slots).
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

    pub fn room(&self, room: &str) -> Counts {
        self.rooms.get(room).map(Tally::counts).unwrap_or_default()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The busiest rooms first (by sessions, then visitors, then name), at most `limit`.
    pub fn top(&self, limit: usize) -> Vec<RoomCounts> {
        top_of(
            self.rooms.iter().map(|(r, t)| (&**r, t.counts())).collect(),
            limit,
        )
    }

    /// Every room, by name.
    pub fn list(&self) -> Vec<RoomCounts> {
        let mut list: Vec<RoomCounts> = self
            .rooms
            .iter()
            .map(|(r, t)| RoomCounts::new(r, t.counts()))
            .collect();
        list.sort_by(|a, b| a.room.cmp(&b.room));
        list
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
    if all.len() > limit {
        all.select_nth_unstable_by(limit - 1, order);
        all.truncate(limit);
    }
    all.sort_unstable_by(order);
    all.into_iter()
        .map(|(r, c)| RoomCounts::new(r, c))
        .collect()
}
