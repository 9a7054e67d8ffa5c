//! Rebuilding this object's sessions and sockets after it restarted or woke from hibernation.
//!
//! Stored sessions count again for one `ttl` (unless they were already restored once without
//! a sign of life since: they get no second `ttl`, so wake-ups cannot keep dead sessions alive
//! forever), and open sockets come back from their attachments. Their entities hear of them as
//! restored (online since when storage says), not as new.

use std::rc::Rc;

use super::super::effects::{Effects, Write};
use super::super::shards::EntityEvent;
use super::super::types::{
    AddressKey, Millis, SocketSession, SocketSpec, StoredSession, Visibility,
};
use super::sessions::{Carried, HoldUntil, Session};
use super::{Local, Want};

impl Local {
    /// Rebuilds the state at `now` from the stored session rows and the open sockets.
    pub fn restore(
        &mut self,
        now: Millis,
        rows: Vec<StoredSession>,
        sockets: Vec<SocketSpec>,
        out: &mut Effects,
    ) {
        let mut marked = Vec::new();
        for row in rows {
            self.restore_row(now, row, &mut marked, out);
        }
        for spec in sockets {
            if let Some(ss) = &spec.session {
                marked.retain(|m| *m != ss.session);
            }
            self.add_socket(now, spec, true, out);
        }
        if !marked.is_empty() {
            out.writes.push(Write::MarkRestored {
                at: now,
                sessions: marked,
            });
        }
        // what the sockets last received is unknown: nothing is news yet
        self.take_changes();
        self.take_anonymous_changed();
    }

    /// One stored session: live again for one hold, or (restored before and silent since)
    /// deleted.
    fn restore_row(
        &mut self,
        now: Millis,
        row: StoredSession,
        marked: &mut Vec<String>,
        out: &mut Effects,
    ) {
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
            out.writes.push(Write::Delete {
                session: row.session,
            });
            return;
        }
        if row.restored_at.is_none() {
            marked.push(row.session.clone());
        }
        let room = self.tallies.intern(&row.room);
        let away = visibility == Visibility::Away;
        let carried = row.entity.as_deref().map(|e| {
            Rc::new(Carried {
                entity: Rc::from(e),
                info: row.info.as_deref().map(Rc::from),
            })
        });
        let name: Rc<str> = Rc::from(row.session.as_str());
        // its address was never stored: it counts under none until its next sign of life
        let session = Session {
            room,
            visitor: row.visitor,
            address: AddressKey::UNKNOWN,
            carried,
            joined_at: row.joined_at,
            hold_until: HoldUntil::at(until),
            sockets: 0,
            restored: true,
            away,
            stored: true,
        };
        self.count(&session, true, session.joined_at);
        if let Some(c) = &session.carried {
            self.events.push(EntityEvent::Restored {
                entity: c.entity.clone(),
                session: name.clone(),
                room: session.room.clone(),
                visible: !away,
                info: c.info.clone(),
                last_seen: row.entity_last_seen.unwrap_or(row.joined_at),
                online_since: row.entity_online_since.unwrap_or(row.joined_at),
                at: now,
            });
        }
        self.sessions.insert(name, session);
    }

    /// A socket's session after a restart: the socket proves it is live, so it needs no HTTP
    /// hold, and a session whose row storage lost is written again.
    pub(super) fn restore_socket_session(
        &mut self,
        now: Millis,
        ss: &SocketSession,
        address: AddressKey,
        out: &mut Effects,
    ) -> Rc<str> {
        let want = Want {
            room: &ss.room,
            visitor: ss.visitor,
            address,
            entity: ss.entity.as_deref(),
            info: ss.info.as_deref(),
            visibility: if ss.away && ss.entity.is_some() {
                Visibility::Away
            } else {
                Visibility::Visible
            },
            by_socket: true,
        };
        let Some(name) = self.sessions.name(&ss.session) else {
            return self.upsert(now, &ss.session, want, out);
        };
        self.sessions.release(&name);
        let differs = self.sessions.get_mut(&name).is_some_and(|s| {
            s.restored = false;
            *s.room != *ss.room
                || s.visitor != ss.visitor
                || s.address != address
                || s.entity().map(|e| &**e) != want.entity
                || s.away != (want.visibility == Visibility::Away)
        });
        if differs {
            self.upsert(now, &ss.session, want, out);
        }
        name
    }
}
