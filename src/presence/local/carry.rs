//! The sockets of this object and the sessions they carry: a socket opens (its session joins
//! or is confirmed), shows signs of life, goes away and comes back, closes or falls silent.

use std::rc::Rc;

use super::super::effects::{Close, Effects};
use super::super::shards::EntityEvent;
use super::super::slots::RoomSlots;
use super::super::types::{Closed, Millis, SocketId, SocketSpec, Visibility};
use super::sessions::Session;
use super::{Local, Socket, Want, SILENT_REASON};

impl Local {
    /// Registers a socket (new, or back from its attachment when `restoring`) and the session
    /// it carries.
    pub fn add_socket(
        &mut self,
        now: Millis,
        spec: SocketSpec,
        restoring: bool,
        slots: Option<&RoomSlots>,
        out: &mut Effects,
    ) {
        if self.sockets.get(spec.id).is_some() {
            self.remove_socket(spec.id, now, now, Closed::Abnormal, out);
        }
        let session = spec.session.map(|ss| {
            let name = if restoring {
                self.restore_socket_session(now, &ss, out)
            } else {
                let want = Want {
                    room: &ss.room,
                    visitor: ss.visitor,
                    entity: ss.entity.as_deref(),
                    info: ss.info.as_deref(),
                    visibility: Visibility::Visible,
                };
                self.upsert(now, &ss.session, want, slots, out)
            };
            if let Some(s) = self.sessions.get_mut(&name) {
                s.sockets += 1;
            }
            name
        });
        let visibility = session
            .as_ref()
            .and_then(|n| self.sessions.get(n))
            .map(Session::visibility);
        let silent_at = spec.seen_at.saturating_add(self.cfg.idle_ms(visibility));
        let view = spec.view.map(|r| self.sockets.view_name(&r));
        let watch = spec
            .watch
            .iter()
            .map(|e| self.sockets.watched_name(e))
            .collect();
        self.sockets_changed = true;
        self.sockets.insert(
            spec.id,
            Socket {
                session,
                view,
                watch,
                members: spec.members.map(Rc::from),
                members_sent_at: None,
                members_pending: false,
                silent_at,
                sent: None,
            },
        );
    }

    /// Removes a socket at `now`; its last sign of life was `last_seen`. Its session ends
    /// unless another socket carries it, or (after an abnormal close) an HTTP hold still runs.
    pub fn remove_socket(
        &mut self,
        id: SocketId,
        now: Millis,
        last_seen: Millis,
        how: Closed,
        out: &mut Effects,
    ) -> bool {
        let Some(sock) = self.sockets.remove(id) else {
            return false;
        };
        self.sockets_changed = true;
        let Some(name) = sock.session else {
            return true;
        };
        let ended = self.sessions.get_mut(&name).is_some_and(|s| {
            s.sockets = s.sockets.saturating_sub(1);
            s.sockets == 0 && (how == Closed::Clean || s.hold_until.is_none())
        });
        if ended {
            self.end(&name, now, last_seen, out);
        }
        true
    }

    /// A sign of life from a socket at `at` (a message, or a ping the runtime answered).
    pub fn socket_seen(&mut self, id: SocketId, at: Millis) {
        let Some(s) = self.sockets.get(id) else {
            return;
        };
        let session = s.session.as_ref().and_then(|name| self.sessions.get(name));
        let silent_at = at.saturating_add(self.cfg.idle_ms(session.map(Session::visibility)));
        let entity = session.and_then(|sess| sess.entity.clone());
        self.sockets.seen(id, silent_at);
        if let Some(entity) = entity {
            self.events.push(EntityEvent::Seen { entity, at });
        }
    }

    /// A socket's session goes away or comes back (a session without an entity that goes away
    /// ends, as with `leave`; its socket stays as a subscriber).
    pub fn socket_visibility(
        &mut self,
        now: Millis,
        id: SocketId,
        v: Visibility,
        slots: Option<&RoomSlots>,
        out: &mut Effects,
    ) {
        let Some(name) = self.sockets.get(id).and_then(|s| s.session.clone()) else {
            return;
        };
        let Some(s) = self.sessions.get(&name) else {
            return;
        };
        if s.entity.is_none() && v == Visibility::Away {
            self.end(&name, now, now, out);
            return;
        }
        if s.visibility() == v {
            return;
        }
        let (room, visitor, held) = (s.room.clone(), s.visitor, s.hold_until.is_some());
        let want = Want {
            room: &room,
            visitor,
            entity: None,
            info: None,
            visibility: v,
        };
        self.upsert(now, &name, want, slots, out);
        if held {
            self.sessions.hold(&name, now + self.cfg.hold_ms(v));
        }
        // every socket carrying it keeps the flag through hibernation
        for sid in self.sockets.carrying(&name) {
            out.marks.push((sid, v == Visibility::Away));
        }
    }

    /// The sockets the runtime may have answered pings of without waking the object, whose
    /// silence deadline falls before `t`.
    pub fn silent_before(&self, t: Millis) -> Vec<SocketId> {
        self.sockets.silent_before(t)
    }

    /// Ends what has gone silent by `now`: HTTP holds that ran out (for sessions no socket
    /// carries), and sockets silent for their idle time.
    pub fn expire(&mut self, now: Millis, out: &mut Effects) {
        while let Some((until, name)) = self.sessions.pop_expired_hold(now) {
            let ended = self
                .sessions
                .get(&name)
                .filter(|s| s.sockets == 0)
                .map(|s| (s.restored, s.visibility()));
            if let Some((restored, visibility)) = ended {
                // It ended when its hold ran out, however late the sweep runs; its last sign
                // of life was a hold before that, unless the hold only came from a restart
                // (then the stored last-seen time stands).
                let last_seen = if restored {
                    0
                } else {
                    until.saturating_sub(self.cfg.hold_ms(visibility))
                };
                self.end(&name, until, last_seen, out);
            }
        }
        while let Some((deadline, id)) = self.sockets.pop_silent(now) {
            let visibility = self
                .sockets
                .get(id)
                .and_then(|s| s.session.as_ref())
                .and_then(|n| self.sessions.get(n))
                .map(Session::visibility);
            let idle = self.cfg.idle_ms(visibility.or(Some(Visibility::Visible)));
            let last_seen = deadline.saturating_sub(idle);
            self.remove_socket(id, deadline, last_seen, Closed::Abnormal, out);
            out.closes.push(Close {
                socket: id,
                code: 1001,
                reason: SILENT_REASON,
            });
        }
    }
}
