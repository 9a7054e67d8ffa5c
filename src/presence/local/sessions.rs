//! The live sessions of a site and their HTTP holds.
//!
//! A session is live while its HTTP hold has not run out (a join or heartbeat gives it one
//! `ttl`) or while at least one socket carries it. This table only keeps that state; which
//! counts and entities a change touches is decided in `local/mod.rs`.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::deadlines::Deadlines;
use super::super::types::{AddressKey, Millis, Visibility, VisitorKey};

/// When an HTTP hold ends, or none, in 8 bytes (an `Option<u64>` takes 16): a hold is always
/// given at a time after the epoch plus a ttl, so 0 means none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HoldUntil(Millis);

impl HoldUntil {
    pub const NONE: HoldUntil = HoldUntil(0);

    pub fn at(until: Millis) -> HoldUntil {
        HoldUntil(until.max(1))
    }

    pub fn get(self) -> Option<Millis> {
        (self.0 != 0).then_some(self.0)
    }

    pub fn is_some(self) -> bool {
        self.0 != 0
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// The entity a session carries, and the member info its track token gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Carried {
    pub entity: Rc<str>,
    pub info: Option<Rc<str>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The room it is in (counted under its name, or in the overflow group: see `counts.rs`).
    pub room: Rc<str>,
    pub visitor: VisitorKey,
    /// The client address it was last seen from.
    pub address: AddressKey,
    /// Its entity and member info, if it carries one (one pointer: most sessions carry none).
    pub carried: Option<Rc<Carried>>,
    pub joined_at: Millis,
    /// Hidden: counted nowhere, held by the away ttl (only sessions with an entity).
    pub away: bool,
    /// The HTTP hold: live until then without a heartbeat.
    pub hold_until: HoldUntil,
    /// How many open sockets carry this session.
    pub sockets: u32,
    /// Restored from storage and not yet confirmed by a sign of life.
    pub restored: bool,
    /// It has a row. A session that only sockets carry and that carries no entity has none:
    /// the sockets' attachments bring it back after hibernation, and a socket dropped by a
    /// restart reconnects with it, so storage would only bill two rows (the join and the end)
    /// per page view. It gets one as soon as it needs one: an HTTP hold (nothing else would
    /// bring it back), or an entity (whose sessions are restored as they were).
    pub stored: bool,
}

impl Session {
    pub fn entity(&self) -> Option<&Rc<str>> {
        self.carried.as_ref().map(|c| &c.entity)
    }

    pub fn info(&self) -> Option<&Rc<str>> {
        self.carried.as_ref().and_then(|c| c.info.as_ref())
    }

    pub fn visibility(&self) -> Visibility {
        if self.away {
            Visibility::Away
        } else {
            Visibility::Visible
        }
    }
}

/// Each session is boxed: the map's buckets stay small (a name and a pointer), so the table
/// that doubles as sessions join (and briefly lives twice while it does) is a few bytes per
/// session, not the whole session; Wasm memory grows to that peak and never shrinks.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: HashMap<Rc<str>, Box<Session>>,
    holds: Deadlines<Rc<str>>,
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.live.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&Session> {
        self.live.get(name).map(|s| &**s)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Session> {
        self.live.get_mut(name).map(|s| &mut **s)
    }

    /// The shared name of a live session (to key sockets and deadlines without copying it).
    pub fn name(&self, name: &str) -> Option<Rc<str>> {
        self.live.get_key_value(name).map(|(k, _)| k.clone())
    }

    pub fn insert(&mut self, name: Rc<str>, session: Session) {
        if let Some(until) = session.hold_until.get() {
            self.holds.insert(until, name.clone());
        }
        if let Some(old) = self.live.insert(name.clone(), Box::new(session)) {
            if let Some(until) = old.hold_until.get() {
                self.holds.remove(until, &name);
            }
        }
    }

    /// Removes a session and its hold.
    pub fn remove(&mut self, name: &str) -> Option<(Rc<str>, Session)> {
        let (name, s) = self.live.remove_entry(name)?;
        if let Some(until) = s.hold_until.get() {
            self.holds.remove(until, &name);
        }
        Some((name, *s))
    }

    /// Gives a live session an HTTP hold until `until` (replacing any other).
    pub fn hold(&mut self, name: &Rc<str>, until: Millis) {
        if let Some(s) = self.live.get_mut(&**name) {
            let old = std::mem::replace(&mut s.hold_until, HoldUntil::at(until)).get();
            self.holds.reschedule(old, until, name.clone());
        }
    }

    /// Drops a session's HTTP hold (a socket proves it is live instead).
    pub fn release(&mut self, name: &str) {
        if let Some((k, s)) = self.live.get_key_value(name) {
            if let Some(until) = s.hold_until.get() {
                let k = k.clone();
                self.holds.remove(until, &k);
                if let Some(s) = self.live.get_mut(name) {
                    s.hold_until = HoldUntil::NONE;
                }
            }
        }
    }

    /// Takes the earliest hold that ran out by `now`, clearing it from its session; answers
    /// the session and the time its hold ended.
    pub fn pop_expired_hold(&mut self, now: Millis) -> Option<(Millis, Rc<str>)> {
        let (until, name) = self.holds.pop_due(now)?;
        if let Some(s) = self.live.get_mut(&*name) {
            s.hold_until = HoldUntil::NONE;
        }
        Some((until, name))
    }

    /// When the earliest hold runs out.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.holds.next()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Rc<str>, &Session)> {
        self.live.iter().map(|(k, s)| (k, &**s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stays_small() {
        // every live session is one boxed Session: at 50,000 sessions each 8 bytes here are
        // 400 KB of Wasm memory (see the bench's bytes per session)
        assert!(
            std::mem::size_of::<Session>() <= 8 * std::mem::size_of::<u64>(),
            "{} bytes",
            std::mem::size_of::<Session>()
        );
        assert_eq!(std::mem::size_of::<HoldUntil>(), 8);
        assert_eq!(HoldUntil::at(5).get(), Some(5));
        assert_eq!(HoldUntil::NONE.get(), None);
        assert!(
            HoldUntil::at(0).is_some(),
            "a hold is never none by accident"
        );
    }
}
