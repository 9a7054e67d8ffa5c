//! The sockets of this object and the sessions they carry: a socket opens (its session joins
//! or is confirmed), shows signs of life, goes away and comes back, renews its token, closes,
//! falls silent, sends too much, or outlives its token.

use std::rc::Rc;

use super::super::effects::{Close, Effects};
use super::super::shards::EntityEvent;
use super::super::types::{AddressKey, Closed, Millis, Refusal, SocketId, SocketSpec, Visibility};
use super::sessions::Session;
use super::sockets::Budget;
use super::{Local, Socket, Want, SILENT_REASON};

/// The close of a socket whose token ran out (`exp` and the leeway) without a renewal.
pub(crate) const TOKEN_EXPIRED: (u16, &str) = (4001, "token_expired");
/// The close of a socket that sent more than its budget of messages.
pub(crate) const TOO_MANY_MESSAGES: (u16, &str) = (1008, "too_many_messages");

impl Local {
    /// Refuses a new socket past the site's ceiling or its address's.
    pub fn admit_socket(&self, address: AddressKey) -> Result<(), Refusal> {
        if self.sockets.len() >= self.cfg.limits.max_sockets {
            return Err(Refusal::TooManySockets);
        }
        let held = self.by_address.get(&address).map_or(0, |u| u.sockets);
        if address != AddressKey::UNKNOWN
            && held as usize >= self.cfg.limits.max_sockets_per_address
        {
            return Err(Refusal::TooManyFromAddress);
        }
        Ok(())
    }

    /// Registers a socket (new, or back from its attachment when `restoring`) and the session
    /// it carries.
    pub fn add_socket(
        &mut self,
        now: Millis,
        spec: SocketSpec,
        restoring: bool,
        out: &mut Effects,
    ) {
        if self.sockets.get(spec.id).is_some() {
            self.remove_socket(spec.id, now, now, Closed::Abnormal, out);
        }
        let session = spec.session.map(|ss| {
            let name = if restoring {
                self.restore_socket_session(now, &ss, spec.address, out)
            } else {
                let want = Want {
                    room: &ss.room,
                    visitor: ss.visitor,
                    address: spec.address,
                    entity: ss.entity.as_deref(),
                    info: ss.info.as_deref(),
                    visibility: Visibility::Visible,
                    by_socket: true,
                };
                self.upsert(now, &ss.session, want, out)
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
        self.uses(spec.address, 0, 1);
        let socket = Socket {
            session,
            address: spec.address,
            view,
            watch,
            members: spec.members.map(Rc::from),
            members_sent_at: None,
            members_pending: false,
            silent_at,
            token_until: spec.token_until,
            budget: None,
            sent: None,
        };
        self.sockets.insert(spec.id, socket);
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
        // a socket counts for the address that opened it, as long as it is open
        self.uses(sock.address, 0, -1);
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
        let entity = session.and_then(|sess| sess.entity().cloned());
        self.sockets.seen(id, silent_at);
        if let Some(entity) = entity {
            self.events.push(EntityEvent::Seen { entity, at });
        }
    }

    /// A text other than `ping` arrived on a socket at `now`: within its budget (20 in any
    /// 10 s), or the socket is closed (1008 `too_many_messages`) and its session ends as after
    /// an abnormal close. Answers whether it was within the budget.
    pub fn spend(&mut self, id: SocketId, now: Millis, out: &mut Effects) -> bool {
        let Some(s) = self.sockets.get_mut(id) else {
            return false;
        };
        let budget = s.budget.get_or_insert_with(|| Box::new(Budget::default()));
        if budget.spend(now) {
            return true;
        }
        self.close(id, now, TOO_MANY_MESSAGES, Closed::Abnormal, out);
        false
    }

    /// A socket's token was renewed: its rights last until `until` (`exp` and the leeway).
    pub fn renew_token(&mut self, id: SocketId, until: Millis) {
        self.sockets.renew_token(id, until);
    }

    /// Closes a socket for the core's own reason, its session ending as `how` says.
    fn close(
        &mut self,
        id: SocketId,
        now: Millis,
        (code, reason): (u16, &'static str),
        how: Closed,
        out: &mut Effects,
    ) {
        self.remove_socket(id, now, now, how, out);
        out.closes.push(Close {
            socket: id,
            code,
            reason,
        });
    }

    /// A socket's session goes away or comes back (a session without an entity that goes away
    /// ends, as with `leave`; its socket stays as a subscriber).
    pub fn socket_visibility(
        &mut self,
        now: Millis,
        id: SocketId,
        v: Visibility,
        out: &mut Effects,
    ) {
        let Some(name) = self.sockets.get(id).and_then(|s| s.session.clone()) else {
            return;
        };
        let Some(s) = self.sessions.get(&name) else {
            return;
        };
        if s.carried.is_none() && v == Visibility::Away {
            self.end(&name, now, now, out);
            return;
        }
        if s.visibility() == v {
            return;
        }
        let (room, visitor, held, address) =
            (s.room.clone(), s.visitor, s.hold_until.is_some(), s.address);
        let want = Want {
            room: &room,
            visitor,
            address,
            entity: None,
            info: None,
            visibility: v,
            by_socket: true,
        };
        self.upsert(now, &name, want, out);
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

    /// Ends what has run out by `now`: HTTP holds (of sessions no socket carries), sockets
    /// silent for their idle time, and sockets whose token ran out.
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
        // a tracked session on a socket whose token ran out ends as with a clean close
        while let Some((_, id)) = self.sockets.pop_token_expired(now) {
            self.close(id, now, TOKEN_EXPIRED, Closed::Clean, out);
        }
        self.signals.prune(now);
    }
}
