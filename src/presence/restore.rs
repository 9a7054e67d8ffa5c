//! Rebuilding a site's presence after its object restarted or woke from hibernation.
//!
//! Stored sessions count again for one `ttl` (unless they were already restored once without
//! a sign of life since: they get no second `ttl`, so wake-ups cannot keep dead sessions alive
//! forever), and open sockets come back from their attachments. What the sockets last received
//! is unknown, so the next change goes to all of them; watchers learn statuses again from their
//! first message when they reconnect.

use std::rc::Rc;

use super::sessions::{HoldUntil, Session};
use super::types::{Millis, SocketSession, SocketSpec, StoredSession, Visibility};
use super::{Presence, Want, Write};

impl Presence {
    /// Rebuilds the state at `now` from the stored session rows and the open sockets.
    pub fn restore(&mut self, now: Millis, rows: Vec<StoredSession>, sockets: Vec<SocketSpec>) {
        let mut marked = Vec::new();
        for row in rows {
            let visibility = if row.away && row.entity.is_some() {
                Visibility::Away
            } else {
                Visibility::Visible
            };
            let until = row
                .restored_at
                .unwrap_or(now)
                .saturating_add(self.cfg.hold_ms(visibility));
            if until <= now {
                self.out.writes.push(Write::Delete {
                    session: row.session,
                });
                continue;
            }
            if row.restored_at.is_none() {
                marked.push(row.session.clone());
            }
            // stored rooms were placed when they were written: they come back as they are
            let room = self.tallies.intern(&row.room);
            let away = visibility == Visibility::Away;
            let entity = row.entity.as_deref().map(|e| self.entities.name(e));
            if !away {
                self.tallies.add(&room, row.visitor, entity.is_none());
            }
            let name: Rc<str> = Rc::from(row.session.as_str());
            let info: Option<Rc<str>> = row.info.as_deref().map(Rc::from);
            if let Some(e) = &entity {
                let seen = row.entity_last_seen.unwrap_or(row.joined_at);
                let since = row.entity_online_since.unwrap_or(row.joined_at);
                self.entities.session_restored(
                    e,
                    &name,
                    &room,
                    !away,
                    info.clone(),
                    seen,
                    since,
                    now,
                );
            }
            self.sessions.insert(
                name,
                Session {
                    room,
                    visitor: row.visitor,
                    entity,
                    info,
                    joined_at: row.joined_at,
                    hold_until: HoldUntil::at(until),
                    sockets: 0,
                    restored: true,
                    away,
                },
            );
        }
        for spec in sockets {
            if let Some(ss) = &spec.session {
                marked.retain(|m| *m != ss.session);
            }
            self.add_socket(now, spec, true);
        }
        if !marked.is_empty() {
            self.out.writes.push(Write::MarkRestored {
                at: now,
                sessions: marked,
            });
        }
        self.tallies.take_changed();
        self.tallies.take_anonymous_changed();
        self.throttle.reset();
        self.entities.local.take_changes();
        self.entities.local.take_transitions();
        self.entities.local.take_dirty_rooms();
    }

    /// A socket's session after a restart: the socket proves it is live, so it needs no HTTP
    /// hold, and a session whose row storage lost is written again.
    pub(super) fn restore_socket_session(&mut self, now: Millis, ss: &SocketSession) -> Rc<str> {
        let want = Want {
            room: &ss.room,
            visitor: ss.visitor,
            entity: ss.entity.as_deref(),
            info: ss.info.as_deref(),
            visibility: if ss.away && ss.entity.is_some() {
                Visibility::Away
            } else {
                Visibility::Visible
            },
        };
        let Some(name) = self.sessions.name(&ss.session) else {
            return self.upsert_session(now, &ss.session, want);
        };
        self.sessions.release(&name);
        let differs = self.sessions.get_mut(&name).is_some_and(|s| {
            s.restored = false;
            *s.room != *ss.room
                || s.visitor != ss.visitor
                || s.entity.as_deref() != want.entity
                || s.away != (want.visibility == Visibility::Away)
        });
        if differs {
            self.upsert_session(now, &ss.session, want);
        }
        name
    }
}
