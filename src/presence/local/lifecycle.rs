//! A session's life on this object: admitted (within the ceilings), joined, changed (room,
//! visitor, address, entity, info, away or back), seen, ended; each change applied to the
//! sessions, the tallies and what each address holds together, and told as rows to write and
//! entity events.

use std::rc::Rc;

use super::super::effects::{Effects, Write};
use super::super::shards::EntityEvent;
use super::super::types::{AddressKey, Millis, Refusal, Visibility};
use super::counts::Counted;
use super::sessions::{Carried, HoldUntil, Session};
use super::{Local, Want};

impl Local {
    // ----- sessions -----

    /// Refuses a new session past the site's ceiling or its address's; a known session is
    /// always admitted.
    pub fn admit(&self, session: &str, address: AddressKey) -> Result<(), Refusal> {
        if self.sessions.contains(session) {
            return Ok(());
        }
        if self.sessions.len() >= self.cfg.limits.max_sessions {
            return Err(Refusal::SiteFull);
        }
        let held = self.by_address.get(&address).map_or(0, |u| u.sessions);
        if address != AddressKey::UNKNOWN
            && held as usize >= self.cfg.limits.max_sessions_per_address
        {
            return Err(Refusal::TooManyFromAddress);
        }
        Ok(())
    }

    /// A session that carries an entity is that entity's: only a ping or socket carrying a
    /// valid track token for the same entity (`entity`, checked by the edge) may touch it.
    pub fn check_owner(&self, session: &str, entity: Option<&str>) -> Result<(), Refusal> {
        match self.entity_of(session) {
            Some(owner) if entity != Some(owner) => Err(Refusal::NotYours),
            _ => Ok(()),
        }
    }

    /// Gives a live session an HTTP hold of `visibility`'s length from `now`; a session held
    /// over HTTP is kept in storage (a socket's session without a row gets one now).
    pub fn hold(&mut self, session: &str, now: Millis, visibility: Visibility, out: &mut Effects) {
        let Some(name) = self.sessions.name(session) else {
            return;
        };
        self.sessions
            .hold(&name, now + self.cfg.hold_ms(visibility));
        if let Some(s) = self.sessions.get_mut(&name).filter(|s| !s.stored) {
            s.stored = true;
            out.writes.push(upsert_row(&name, s));
        }
    }

    /// Makes `session` live as `want` says: a join when it is new, a change (room, visitor,
    /// address, entity, info, away or back) when something differs, a confirmation when it was
    /// restored, and a mere sign of life otherwise. Answers the session's shared name.
    pub fn upsert(
        &mut self,
        now: Millis,
        session: &str,
        want: Want<'_>,
        out: &mut Effects,
    ) -> Rc<str> {
        let room = self.tallies.intern(want.room);
        match self.sessions.name(session) {
            None => self.join(now, Rc::from(session), room, want, out),
            Some(name) => {
                self.change(now, &name, room, want, out);
                name
            }
        }
    }

    /// A new session.
    fn join(
        &mut self,
        now: Millis,
        name: Rc<str>,
        room: Rc<str>,
        want: Want<'_>,
        out: &mut Effects,
    ) -> Rc<str> {
        let carried = want.entity.map(|e| {
            Rc::new(Carried {
                entity: Rc::from(e),
                info: want.info.map(Rc::from),
            })
        });
        let s = Session {
            room,
            visitor: want.visitor,
            address: want.address,
            carried,
            joined_at: now,
            hold_until: HoldUntil::NONE,
            sockets: 0,
            restored: false,
            away: want.visibility == Visibility::Away,
            stored: !want.by_socket || want.entity.is_some(),
        };
        self.uses(s.address, 1, 0);
        self.count(&s, true, now);
        self.events.extend(start_event(&name, &s, now));
        if s.stored {
            out.writes.push(upsert_row(&name, &s));
        }
        self.sessions.insert(name.clone(), s);
        name
    }

    /// A known session asked to be as `want` says: a change of room, visitor, address,
    /// entity, info or visibility is applied to the tallies and told (a row, entity events);
    /// no change is a mere sign of life.
    fn change(
        &mut self,
        now: Millis,
        name: &Rc<str>,
        room: Rc<str>,
        want: Want,
        out: &mut Effects,
    ) {
        let Some(s) = self.sessions.get(name) else {
            return;
        };
        let diff = Diff::of(s, &room, &want);
        if diff.is_none() {
            self.seen_alive(now, name, out);
            return;
        }
        let old = s.clone();
        let new = diff.apply(&old, room, &want);
        self.count(&old, false, now);
        self.uses(old.address, -1, 0);
        self.uses(new.address, 1, 0);
        self.count(&new, true, now);
        self.tell_change(now, name, (&old, &new), diff, out);
        if let Some(s) = self.sessions.get_mut(name) {
            *s = new;
        }
    }

    /// What a change means elsewhere: the session's row (or a confirmation of a restored
    /// one), the end of its old entity's session, the start of the new one's.
    fn tell_change(
        &mut self,
        now: Millis,
        name: &Rc<str>,
        (old, new): (&Session, &Session),
        diff: Diff,
        out: &mut Effects,
    ) {
        let stored = diff.moved || diff.entity || diff.info;
        if stored && new.stored {
            out.writes.push(upsert_row(name, new));
        } else if old.restored {
            // seen again from its address: confirmed (its stored row stands)
            out.writes.push(Write::Confirm {
                session: name.to_string(),
            });
        }
        if let Some(entity) = old.entity().filter(|_| diff.entity) {
            self.signals.forget(name);
            self.events.push(EntityEvent::End {
                entity: entity.clone(),
                session: name.clone(),
                at: now,
                last_seen: now,
            });
        }
        let start = start_event(name, new, now).filter(|_| stored);
        self.events.extend(start);
    }

    /// A sign of life of a session that did not change: a restored one is confirmed.
    fn seen_alive(&mut self, now: Millis, name: &Rc<str>, out: &mut Effects) {
        let Some(s) = self.sessions.get_mut(name) else {
            return;
        };
        if std::mem::take(&mut s.restored) {
            out.writes.push(Write::Confirm {
                session: name.to_string(),
            });
        }
        if let Some(entity) = s.entity().cloned() {
            self.events.push(EntityEvent::Seen { entity, at: now });
        }
    }

    /// Counts (`true`) or uncounts a visible session in the tallies at `now`.
    pub(super) fn count(&mut self, s: &Session, add: bool, now: Millis) {
        if s.away {
            return;
        }
        let c = Counted {
            room: &s.room,
            visitor: s.visitor,
            address: s.address,
            anonymous: s.carried.is_none(),
            at: now,
        };
        if add {
            self.tallies.add(c);
        } else {
            self.tallies.remove(c);
        }
    }

    /// What `address` holds changes by `sessions` and `sockets`.
    pub(super) fn uses(&mut self, address: AddressKey, sessions: i64, sockets: i64) {
        if address == AddressKey::UNKNOWN {
            return;
        }
        let u = self.by_address.entry(address).or_default();
        u.sessions = (i64::from(u.sessions) + sessions).max(0) as u32;
        u.sockets = (i64::from(u.sockets) + sockets).max(0) as u32;
        if u.sessions == 0 && u.sockets == 0 {
            self.by_address.remove(&address);
        }
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    pub fn end(&mut self, session: &str, now: Millis, last_seen: Millis, out: &mut Effects) {
        let Some((name, s)) = self.sessions.remove(session) else {
            return;
        };
        self.count(&s, false, now);
        self.uses(s.address, -1, 0);
        self.signals.forget(&name);
        if let Some(entity) = s.entity().cloned() {
            self.events.push(EntityEvent::End {
                entity,
                session: name.clone(),
                at: now,
                last_seen,
            });
        }
        if s.sockets > 0 {
            self.sockets.detach_session(&name);
        }
        if s.stored {
            out.writes.push(Write::Delete {
                session: name.to_string(),
            });
        }
    }
}

/// What the site's entities hear of a session that carries an entity and started or changed.
pub(super) fn start_event(name: &Rc<str>, s: &Session, now: Millis) -> Option<EntityEvent> {
    Some(EntityEvent::Start {
        entity: s.entity()?.clone(),
        session: name.clone(),
        room: s.room.clone(),
        visible: !s.away,
        info: s.info().cloned(),
        at: now,
    })
}

/// The row of a session as it is now.
fn upsert_row(name: &str, s: &Session) -> Write {
    Write::Upsert {
        session: name.to_owned(),
        room: s.room.to_string(),
        visitor: s.visitor,
        entity: s.entity().map(|e| e.to_string()),
        info: s.info().map(|i| i.to_string()),
        joined_at: s.joined_at,
        away: s.away,
    }
}

/// What differs between a session and what a ping or socket wants it to be.
#[derive(Clone, Copy, Debug)]
struct Diff {
    /// Its room, visitor or visibility.
    moved: bool,
    /// It carries another entity...
    entity: bool,
    /// ...or other info.
    info: bool,
    /// It is seen from another (known) address.
    address: bool,
}

impl Diff {
    fn of(s: &Session, room: &Rc<str>, want: &Want) -> Diff {
        let away = want.visibility == Visibility::Away;
        Diff {
            moved: s.room != *room || s.visitor != want.visitor || s.away != away,
            entity: (want.entity).is_some_and(|e| s.entity().map(|x| &**x) != Some(e)),
            info: (want.info).is_some_and(|i| s.info().map(|x| &**x) != Some(i)),
            address: s.address != want.address && want.address != AddressKey::UNKNOWN,
        }
    }

    fn is_none(self) -> bool {
        !(self.moved || self.entity || self.info || self.address)
    }

    /// The session `old` becomes, in `room`.
    fn apply(self, old: &Session, room: Rc<str>, want: &Want) -> Session {
        let carried = match want.entity {
            Some(e) if self.entity || self.info => Some(Rc::new(Carried {
                entity: Rc::from(e),
                info: want.info.map(Rc::from).or_else(|| old.info().cloned()),
            })),
            _ => old.carried.clone(),
        };
        // an entity's session is kept in storage
        let stored = old.stored || carried.is_some();
        Session {
            room,
            visitor: want.visitor,
            carried,
            away: want.visibility == Visibility::Away,
            restored: false,
            stored,
            // its sockets count for the addresses that opened them
            address: if self.address {
                want.address
            } else {
                old.address
            },
            ..old.clone()
        }
    }
}
