//! The presence core: who is live in which room of one site, and what should happen next.
//!
//! No I/O and no `worker::` types. Every input takes the time as an argument (epoch
//! milliseconds); after any input the edge calls [`Presence::poll`], which answers one
//! [`Effects`] value: the rows to write, the messages to send (the first snapshot of a new
//! socket, throttled count messages, entity status changes, pongs), the sockets to close, and
//! when to wake the core again ([`Presence::alarm`]). The Durable Object only carries these out.
//!
//! The state is split into small parts, each in its own file:
//! - `sessions`: live sessions and their HTTP holds (where an HTTP session expires);
//! - `sockets`: open sockets by view, by watched entity and by silence deadline;
//! - `counts`: the site and room tallies (sessions, distinct visitors, the overflow room);
//! - `broadcast`: the throttle (where a count goes out);
//! - `entities`: entity status, the leave grace and last-seen times;
//! - `restore`: rebuilding all of it after a restart;
//! - `deadlines`: the one timer queue they all use; `effects`: what the edge must do.
//!
//! A **session** is live while an HTTP hold has not expired (a join or heartbeat gives it
//! `ttl`) or while at least one socket carries it. A **socket** is either a session carrier
//! (`/v1/live?session=..`) or a plain subscriber; both receive count messages for their view
//! (the site, plus the room they named).

mod broadcast;
mod counts;
mod deadlines;
pub mod effects;
pub mod entities;
mod restore;
mod sessions;
mod sockets;
pub mod types;

#[cfg(test)]
mod tests;

use std::rc::Rc;

use broadcast::{Sent, Throttle, View};
use counts::Tallies;
use entities::Entities;
use sessions::{Session, Sessions};
use sockets::{Socket, Sockets};

pub use effects::{Close, Effects, Message, Send, Timing, Write};
pub use entities::{pattern_allows, EntitySeen, EntityStatus};
pub use types::*;

/// Why the core closes a socket that fell silent.
const SILENT_REASON: &str = "silent for longer than the ttl";

/// The presence of one site.
#[derive(Debug)]
pub struct Presence {
    cfg: Config,
    sessions: Sessions,
    tallies: Tallies,
    sockets: Sockets,
    throttle: Throttle,
    entities: Entities,
    /// What inputs asked for since the last [`Presence::poll`].
    out: Effects,
}

impl Presence {
    pub fn new(cfg: Config) -> Self {
        Presence {
            cfg,
            sessions: Sessions::default(),
            tallies: Tallies::new(cfg.limits.max_rooms),
            sockets: Sockets::default(),
            throttle: Throttle::new(cfg.broadcast_interval_ms),
            entities: Entities::new(cfg.leave_grace_ms),
            out: Effects::default(),
        }
    }

    pub fn config(&self) -> Config {
        self.cfg
    }

    // ----- reading -----

    pub fn site_counts(&self) -> Counts {
        self.tallies.site()
    }

    pub fn room_counts(&self, room: &str) -> RoomCounts {
        RoomCounts::new(room, self.tallies.room(room))
    }

    pub fn snapshot(&self, room: Option<&str>) -> Snapshot {
        Snapshot {
            site: self.site_counts(),
            room: room.map(|r| self.room_counts(r)),
        }
    }

    /// The busiest rooms first (by sessions, then visitors, then name), at most `limit`.
    pub fn top_rooms(&self, limit: usize) -> Vec<RoomCounts> {
        self.tallies.top(limit)
    }

    /// Number of rooms with at least one live session.
    pub fn room_count(&self) -> usize {
        self.tallies.room_count()
    }

    /// Number of open sockets (carriers and subscribers).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_live(&self, session: &str) -> bool {
        self.sessions.contains(session)
    }

    /// The room a live session is counted in.
    pub fn session_room(&self, session: &str) -> Option<&str> {
        self.sessions.get(session).map(|s| &*s.room)
    }

    /// The status of an entity online or in its grace; `None` when offline (its last-seen
    /// time is then in storage).
    pub fn entity_status(&self, entity: &str) -> Option<EntityStatus> {
        self.entities.status(entity)
    }

    /// The status of each entity: from memory when online or in its grace, else offline with
    /// the last-seen time storage holds (`stored_last_seen`).
    pub fn statuses(
        &self,
        entities: &[String],
        mut stored_last_seen: impl FnMut(&str) -> Option<Millis>,
    ) -> Vec<(String, EntityStatus)> {
        entities
            .iter()
            .map(|e| {
                let status = self
                    .entities
                    .status(e)
                    .unwrap_or_else(|| EntityStatus::offline(stored_last_seen(e)));
                (e.clone(), status)
            })
            .collect()
    }

    // ----- inputs: HTTP pings -----

    /// Applies a ping and answers the counts of the site and of the ping's room (or of the
    /// overflow group the session is counted in, with `grouped_as`).
    pub fn ping(&mut self, now: Millis, p: Ping<'_>) -> Result<Snapshot, Refusal> {
        match p.event {
            Event::Join | Event::Heartbeat => {
                self.admit(p.session)?;
                let name = self.upsert_session(now, p.session, p.room, p.visitor, p.entity);
                self.sessions.hold(&name, now + self.cfg.ttl_ms);
            }
            Event::Leave => self.end_session(p.session, now, now),
        }
        let mut snap = self.snapshot(Some(p.room));
        if let (Some(r), Some(placed)) = (snap.room.as_mut(), self.session_room(p.session)) {
            if placed != p.room {
                let c = self.tallies.room(placed);
                r.sessions = c.sessions;
                r.visitors = c.visitors;
                r.grouped_as = Some(placed.to_owned());
            }
        }
        Ok(snap)
    }

    // ----- inputs: sockets -----

    /// A socket was accepted. Its first message (the current counts with the timing, and the
    /// status of each entity it watches) is in the next [`Presence::poll`]; it counts as the
    /// socket's message for this broadcast interval.
    pub fn socket_open(
        &mut self,
        now: Millis,
        spec: SocketSpec,
        stored_last_seen: impl FnMut(&str) -> Option<Millis>,
    ) -> Result<(), Refusal> {
        if self.sockets.len() >= self.cfg.limits.max_sockets {
            return Err(Refusal::TooManySockets);
        }
        if let Some(ss) = &spec.session {
            self.admit(&ss.session)?;
        }
        let id = spec.id;
        let view = spec.view.clone();
        let watch = spec.watch.clone();
        self.add_socket(now, spec, false);
        let snap = self.snapshot(view.as_deref());
        if let Some(s) = self.sockets.get_mut(id) {
            s.sent = Some(Sent {
                at: now,
                view: View {
                    site: snap.site,
                    room: snap.room.as_ref().map(|r| Counts {
                        sessions: r.sessions,
                        visitors: r.visitors,
                    }),
                },
            });
        }
        self.out.sends.push(Send {
            to: vec![id],
            message: Message::Count {
                site: snap.site,
                room: snap.room,
                timing: Some(Timing {
                    heartbeat_ms: self.cfg.heartbeat_ms,
                    ttl_ms: self.cfg.ttl_ms,
                }),
            },
        });
        for (entity, status) in self.statuses(&watch, stored_last_seen) {
            self.out.sends.push(Send {
                to: vec![id],
                message: Message::Status { entity, status },
            });
        }
        Ok(())
    }

    /// A message arrived on a socket: a sign of life; a `ping` the runtime did not answer
    /// itself is answered; a message over [`MAX_SOCKET_MESSAGE_BYTES`] closes the socket.
    pub fn socket_message(&mut self, now: Millis, id: SocketId, message: Incoming<'_>) {
        if self.sockets.get(id).is_none() {
            return;
        }
        if message.len() > MAX_SOCKET_MESSAGE_BYTES {
            self.remove_socket(id, now, now, Closed::Abnormal);
            self.out.closes.push(Close {
                socket: id,
                code: 1009,
                reason: "message too big",
            });
            return;
        }
        self.socket_seen(id, now);
        if let Incoming::Text(text) = message {
            if text.trim().eq_ignore_ascii_case("ping") {
                self.out.sends.push(Send {
                    to: vec![id],
                    message: Message::Pong,
                });
            }
        }
    }

    /// A sign of life from a socket at `at` (a message, or a ping the runtime answered).
    pub fn socket_seen(&mut self, id: SocketId, at: Millis) {
        let Some(s) = self.sockets.get(id) else {
            return;
        };
        let silent_at = at.saturating_add(self.cfg.idle_ms(s.session.is_some()));
        let entity = s
            .session
            .as_ref()
            .and_then(|name| self.sessions.get(name))
            .and_then(|sess| sess.entity.clone());
        self.sockets.seen(id, silent_at);
        if let Some(e) = entity {
            self.entities.seen(&e, at);
        }
    }

    /// A socket closed at `now`, as its close code says. Its session ends unless another socket
    /// carries it, or (after an abnormal close) an HTTP hold still runs.
    pub fn socket_closed(&mut self, now: Millis, id: SocketId, how: Closed) {
        self.remove_socket(id, now, now, how);
    }

    // ----- inputs: time -----

    /// The alarm fired at `now`: ends what has gone silent. `last_pong(id)` asks the runtime
    /// when it last answered that socket's `ping` without waking the object; it is asked only
    /// for sockets within half a `ttl` of their deadline, so a healthy socket costs one check
    /// per `ttl / 2` at most.
    pub fn alarm(&mut self, now: Millis, mut last_pong: impl FnMut(SocketId) -> Option<Millis>) {
        let horizon = now + self.cfg.ttl_ms / 2;
        for id in self.sockets.silent_before(horizon) {
            if let Some(t) = last_pong(id) {
                self.socket_seen(id, t);
            }
        }
        self.expire(now);
    }

    // ----- output -----

    /// Everything the edge must do now, after the inputs since the last poll: writes, the
    /// messages due at `now` (throttled), closes, and when to wake the core next.
    pub fn poll(&mut self, now: Millis) -> Effects {
        let mut fx = std::mem::take(&mut self.out);
        if self.tallies.take_changed() {
            self.throttle.mark();
        }
        let tallies = &self.tallies;
        let counts = self.throttle.flush(now, &mut self.sockets, |room| View {
            site: tallies.site(),
            room: room.map(|r| tallies.room(r)),
        });
        fx.sends.extend(counts);
        for (entity, status) in self.entities.take_changes() {
            let to = self.sockets.watchers(&entity);
            if !to.is_empty() {
                fx.sends.push(Send {
                    to,
                    message: Message::Status {
                        entity: entity.to_string(),
                        status,
                    },
                });
            }
        }
        fx.writes.extend(
            self.entities
                .take_seen_writes()
                .into_iter()
                .map(|s| Write::EntitySeen {
                    entity: s.entity,
                    last_seen: s.last_seen,
                }),
        );
        fx.wake_at = self.next_wake();
        fx
    }

    /// When the core must be woken next: the earliest expiry or pending broadcast.
    fn next_wake(&self) -> Option<Millis> {
        [
            self.sessions.next_expiry(),
            self.sockets.next_silence(),
            self.throttle.wake(),
            self.entities.next_wake(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- checks -----

    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        let mut site = counts::Tally::default();
        let mut rooms: std::collections::HashMap<&str, counts::Tally> = Default::default();
        for (_, s) in self.sessions.iter() {
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

    /// The current tallies in the same shape as [`Presence::recount`].
    pub fn tallies(&self) -> (Counts, Vec<RoomCounts>) {
        (self.tallies.site(), self.tallies.list())
    }

    // ----- internals -----

    /// Refuses a new session past the ceiling; a known session is always admitted.
    fn admit(&self, session: &str) -> Result<(), Refusal> {
        if !self.sessions.contains(session) && self.sessions.len() >= self.cfg.limits.max_sessions {
            return Err(Refusal::SiteFull);
        }
        Ok(())
    }

    /// Makes `session` live in `room` with `visitor` (and `entity`, when given): a join when
    /// it is new, a move when the room, visitor or entity changed, a confirmation when it was
    /// restored, and a mere sign of life otherwise. Answers the session's shared name.
    fn upsert_session(
        &mut self,
        now: Millis,
        session: &str,
        room: &str,
        visitor: VisitorKey,
        entity: Option<&str>,
    ) -> Rc<str> {
        let room = self
            .tallies
            .place(room, self.sessions.get(session).map(|s| &s.room));
        let Some(name) = self.sessions.name(session) else {
            let name: Rc<str> = Rc::from(session);
            let entity = entity.map(|e| self.entities.name(e));
            if let Some(e) = &entity {
                self.entities.session_started(e, now);
            }
            self.tallies.add(&room, visitor);
            self.out.writes.push(Write::Upsert {
                session: session.to_owned(),
                room: room.to_string(),
                visitor,
                entity: entity.as_deref().map(str::to_owned),
                joined_at: now,
            });
            self.sessions.insert(
                name.clone(),
                Session {
                    room,
                    visitor,
                    entity,
                    joined_at: now,
                    hold_until: None,
                    sockets: 0,
                    restored: false,
                },
            );
            return name;
        };
        let new_entity = entity.map(|e| self.entities.name(e));
        let Some(s) = self.sessions.get_mut(&name) else {
            return name;
        };
        let entity_changed = new_entity
            .as_ref()
            .is_some_and(|e| s.entity.as_deref() != Some(&**e));
        if s.room == room && s.visitor == visitor && !entity_changed {
            if std::mem::take(&mut s.restored) {
                self.out.writes.push(Write::Confirm {
                    session: session.to_owned(),
                });
            }
            if let Some(e) = &s.entity {
                self.entities.seen(e, now);
            }
            return name;
        }
        let old_room = std::mem::replace(&mut s.room, room.clone());
        let old_visitor = std::mem::replace(&mut s.visitor, visitor);
        s.restored = false;
        if entity_changed {
            let old = std::mem::replace(&mut s.entity, new_entity.clone());
            if let Some(old) = old {
                self.entities.session_ended(&old, now, now);
            }
            if let Some(e) = &new_entity {
                self.entities.session_started(e, now);
            }
        } else if let Some(e) = &s.entity {
            self.entities.seen(e, now);
        }
        self.out.writes.push(Write::Upsert {
            session: session.to_owned(),
            room: room.to_string(),
            visitor,
            entity: s.entity.as_deref().map(str::to_owned),
            joined_at: s.joined_at,
        });
        if old_room != room || old_visitor != visitor {
            self.tallies.remove(&old_room, old_visitor);
            self.tallies.add(&room, visitor);
        }
        name
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    fn end_session(&mut self, session: &str, now: Millis, last_seen: Millis) {
        let Some((name, s)) = self.sessions.remove(session) else {
            return;
        };
        if let Some(e) = &s.entity {
            self.entities.session_ended(e, now, last_seen);
        }
        if s.sockets > 0 {
            self.sockets.detach_session(&name);
        }
        self.tallies.remove(&s.room, s.visitor);
        self.out.writes.push(Write::Delete {
            session: name.to_string(),
        });
    }

    /// Registers a socket (new, or back from its attachment when `restoring`).
    fn add_socket(&mut self, now: Millis, spec: SocketSpec, restoring: bool) {
        if self.sockets.get(spec.id).is_some() {
            self.remove_socket(spec.id, now, now, Closed::Abnormal);
        }
        let session = spec.session.map(|ss| {
            let name = if restoring {
                self.restore_socket_session(now, &ss)
            } else {
                let entity = ss.entity.as_deref();
                self.upsert_session(now, &ss.session, &ss.room, ss.visitor, entity)
            };
            if let Some(s) = self.sessions.get_mut(&name) {
                s.sockets += 1;
            }
            name
        });
        let silent_at = spec
            .seen_at
            .saturating_add(self.cfg.idle_ms(session.is_some()));
        let view = spec
            .view
            .map(|r| self.sockets.view_name(&r).unwrap_or_else(|| Rc::from(r)));
        let watch = spec
            .watch
            .iter()
            .map(|e| {
                self.sockets
                    .watched_name(e)
                    .unwrap_or_else(|| Rc::from(e.as_str()))
            })
            .collect();
        self.sockets.insert(
            spec.id,
            Socket {
                session,
                view,
                watch,
                silent_at,
                sent: None,
            },
        );
    }

    /// Removes a socket at `now`; its last sign of life was `last_seen`.
    fn remove_socket(&mut self, id: SocketId, now: Millis, last_seen: Millis, how: Closed) {
        let Some(sock) = self.sockets.remove(id) else {
            return;
        };
        let Some(name) = sock.session else {
            return;
        };
        let ended = self.sessions.get_mut(&name).is_some_and(|s| {
            s.sockets = s.sockets.saturating_sub(1);
            s.sockets == 0 && (how == Closed::Clean || s.hold_until.is_none())
        });
        if ended {
            self.end_session(&name, now, last_seen);
        }
    }

    /// Ends what has gone silent by `now`: HTTP holds that ran out (for sessions no socket
    /// carries), sockets silent for their idle time, and entity graces.
    fn expire(&mut self, now: Millis) {
        while let Some((until, name)) = self.sessions.pop_expired_hold(now) {
            let ended = self
                .sessions
                .get(&name)
                .filter(|s| s.sockets == 0)
                .map(|s| s.restored);
            if let Some(restored) = ended {
                // It ended when its hold ran out, however late the sweep runs; its last sign
                // of life was a ttl before that, unless the hold only came from a restart
                // (then the stored last-seen time stands).
                let last_seen = if restored {
                    0
                } else {
                    until.saturating_sub(self.cfg.ttl_ms)
                };
                self.end_session(&name, until, last_seen);
            }
        }
        while let Some((deadline, id)) = self.sockets.pop_silent(now) {
            let last_seen = deadline.saturating_sub(self.cfg.ttl_ms);
            self.remove_socket(id, deadline, last_seen, Closed::Abnormal);
            self.out.closes.push(Close {
                socket: id,
                code: 1001,
                reason: SILENT_REASON,
            });
        }
        self.entities.expire(now);
    }
}
