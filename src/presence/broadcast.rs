//! The broadcast throttle: where a count goes out.
//!
//! Each socket gets at most one count message per `broadcast_interval_ms`, and none when what
//! it would show did not change. A change after a quiet interval goes out at once; a change
//! inside an interval goes out when that socket's interval ends (the core asks to be woken
//! then). A message is built once per view (the site, or the site plus one room) and sent to
//! every socket of that view that is due.

use std::rc::Rc;

use super::effects::{Message, Send};
use super::local::Sockets;
use super::types::{Counts, Millis, RoomCounts, SocketId};

/// What a socket shows: the site's counts and, if it named a room, that room's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub site: Counts,
    pub room: Option<Counts>,
}

/// What a socket was last sent, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    pub at: Millis,
    pub view: View,
}

#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Millis,
    /// Some view may differ from what its sockets were sent.
    dirty: bool,
    /// The earliest time a flush can send anything.
    next_at: Millis,
}

impl Throttle {
    pub fn new(interval: Millis) -> Self {
        Throttle {
            interval,
            dirty: false,
            next_at: 0,
        }
    }

    /// Counts changed: the next flush looks at every socket.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// Forget what is pending (after a restore: what sockets last received is unknown, so the
    /// next change goes to all of them).
    pub fn reset(&mut self) {
        self.dirty = false;
        self.next_at = 0;
    }

    /// When a pending message falls due.
    pub fn wake(&self) -> Option<Millis> {
        self.dirty.then_some(self.next_at)
    }

    /// Whether a flush at `now` may send anything.
    pub fn is_due(&self, now: Millis) -> bool {
        self.dirty && now >= self.next_at
    }

    /// The count messages due at `now`. `view_of(room)` answers what a socket viewing `room`
    /// (or the site alone) should show now.
    pub fn flush(
        &mut self,
        now: Millis,
        sockets: &mut Sockets,
        view_of: impl Fn(Option<&str>) -> View,
    ) -> Vec<Send> {
        if !self.dirty || now < self.next_at {
            return Vec::new();
        }
        let interval = self.interval;
        let mut out = Vec::new();
        let mut pending: Option<Millis> = None;
        let mut due: Vec<(Option<String>, View, Vec<SocketId>)> = Vec::new();
        for (room, ids) in sockets.views() {
            let view = view_of(room.map(|r| &**r));
            let mut targets = Vec::new();
            for id in ids {
                let Some(sent) = sockets.get(*id).map(|s| s.sent) else {
                    continue;
                };
                match sent {
                    Some(s) if s.view == view => continue,
                    Some(s) if now < s.at + interval => {
                        let ready = s.at + interval;
                        pending = Some(pending.map_or(ready, |p| p.min(ready)));
                        continue;
                    }
                    _ => targets.push(*id),
                }
            }
            if !targets.is_empty() {
                due.push((room.map(|r| r.to_string()), view, targets));
            }
        }
        for (room, view, mut targets) in due {
            for id in &targets {
                if let Some(s) = sockets.get_mut(*id) {
                    s.sent = Some(Sent { at: now, view });
                }
            }
            targets.sort_unstable(); // socket ids: one instance of the sort, kept on the hot path of every broadcast
            out.push(Send {
                to: targets,
                message: Message::Count {
                    site: view.site,
                    room: room.zip(view.room).map(|(r, c)| RoomCounts::new(&r, c)),
                    timing: None,
                },
            });
        }
        let sent_any = !out.is_empty();
        self.dirty = pending.is_some();
        self.next_at = match (pending, sent_any) {
            (Some(p), true) => p.min(now + interval),
            (Some(p), false) => p,
            (None, true) => now + interval,
            (None, false) => 0,
        };
        out
    }
}

/// The members throttle: a socket receiving a room's members gets at most one members message
/// per interval, the last state, and none when its room's members did not change.
#[derive(Debug, Default)]
pub(crate) struct MembersThrottle {
    /// When a pending members message falls due.
    next_at: Option<Millis>,
}

impl MembersThrottle {
    /// The members of `rooms` changed: their sockets have news.
    pub fn mark(&mut self, sockets: &mut Sockets, rooms: &[Rc<str>]) {
        for room in rooms {
            for id in sockets.members_of(room) {
                if let Some(s) = sockets.get_mut(id) {
                    s.members_pending = true;
                }
            }
            if sockets.has_members_feed(room) {
                self.next_at = Some(0);
            }
        }
    }

    pub fn wake(&self) -> Option<Millis> {
        self.next_at
    }

    /// The rooms whose members message is due at `now`, with the sockets to send it to (the
    /// caller builds each room's message once).
    pub fn due(
        &mut self,
        now: Millis,
        interval: Millis,
        sockets: &mut Sockets,
    ) -> Vec<(Rc<str>, Vec<SocketId>)> {
        if self.next_at.is_none_or(|t| now < t) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut pending: Option<Millis> = None;
        for room in sockets.members_rooms() {
            let mut due = Vec::new();
            for id in sockets.members_of(&room) {
                let Some(s) = sockets.get_mut(id) else {
                    continue;
                };
                if !s.members_pending {
                    continue;
                }
                match s.members_sent_at {
                    Some(at) if now < at + interval => {
                        let ready = at + interval;
                        pending = Some(pending.map_or(ready, |p| p.min(ready)));
                    }
                    _ => {
                        s.members_pending = false;
                        s.members_sent_at = Some(now);
                        due.push(id);
                    }
                }
            }
            if !due.is_empty() {
                out.push((room, due));
            }
        }
        self.next_at = pending;
        out
    }
}
