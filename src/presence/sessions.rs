//! The live sessions of a site and their HTTP holds.
//!
//! A session is live while its HTTP hold has not run out (a join or heartbeat gives it one
//! `ttl`) or while at least one socket carries it. This table only keeps that state; which
//! counts and entities a change touches is decided in `mod.rs`.

use std::collections::HashMap;
use std::rc::Rc;

use super::deadlines::Deadlines;
use super::types::{Millis, Visibility, VisitorKey};

#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The room it is counted in (its own, or the overflow group).
    pub room: Rc<str>,
    pub visitor: VisitorKey,
    pub entity: Option<Rc<str>>,
    /// The member info from the entity's track token.
    pub info: Option<Rc<str>>,
    pub joined_at: Millis,
    /// Hidden: counted nowhere, held by the away ttl (only sessions with an entity).
    pub away: bool,
    /// The HTTP hold: live until then without a heartbeat.
    pub hold_until: Option<Millis>,
    /// How many open sockets carry this session.
    pub sockets: u32,
    /// Restored from storage and not yet confirmed by a sign of life.
    pub restored: bool,
}

impl Session {
    pub fn visibility(&self) -> Visibility {
        if self.away {
            Visibility::Away
        } else {
            Visibility::Visible
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: HashMap<Rc<str>, Session>,
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
        self.live.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Session> {
        self.live.get_mut(name)
    }

    /// The shared name of a live session (to key sockets and deadlines without copying it).
    pub fn name(&self, name: &str) -> Option<Rc<str>> {
        self.live.get_key_value(name).map(|(k, _)| k.clone())
    }

    pub fn insert(&mut self, name: Rc<str>, session: Session) {
        if let Some(until) = session.hold_until {
            self.holds.insert(until, name.clone());
        }
        if let Some(old) = self.live.insert(name.clone(), session) {
            if let Some(until) = old.hold_until {
                self.holds.remove(until, &name);
            }
        }
    }

    /// Removes a session and its hold.
    pub fn remove(&mut self, name: &str) -> Option<(Rc<str>, Session)> {
        let (name, s) = self.live.remove_entry(name)?;
        if let Some(until) = s.hold_until {
            self.holds.remove(until, &name);
        }
        Some((name, s))
    }

    /// Gives a live session an HTTP hold until `until` (replacing any other).
    pub fn hold(&mut self, name: &Rc<str>, until: Millis) {
        if let Some(s) = self.live.get_mut(&**name) {
            let old = s.hold_until.replace(until);
            self.holds.reschedule(old, until, name.clone());
        }
    }

    /// Drops a session's HTTP hold (a socket proves it is live instead).
    pub fn release(&mut self, name: &str) {
        if let Some((k, s)) = self.live.get_key_value(name) {
            if let Some(until) = s.hold_until {
                let k = k.clone();
                self.holds.remove(until, &k);
                if let Some(s) = self.live.get_mut(name) {
                    s.hold_until = None;
                }
            }
        }
    }

    /// Takes the earliest hold that ran out by `now`, clearing it from its session; answers
    /// the session and the time its hold ended.
    pub fn pop_expired_hold(&mut self, now: Millis) -> Option<(Millis, Rc<str>)> {
        let (until, name) = self.holds.pop_due(now)?;
        if let Some(s) = self.live.get_mut(&*name) {
            s.hold_until = None;
        }
        Some((until, name))
    }

    /// When the earliest hold runs out.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.holds.next()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Rc<str>, &Session)> {
        self.live.iter()
    }
}
