//! The signals of this object's sessions (`typing`): which each session holds and when it began
//! new ones, for the per-session limits. When a signal ends for its watchers is the business of
//! the site's entities (they keep the deadlines and show the change); here a signal past its
//! `until` simply no longer holds. Never stored: a restart forgets them, as it should for a
//! state that lasts seconds.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::shards::EntityEvent;
use super::super::types::{valid_signal, Millis, Refusal, MAX_NEW_SIGNALS_PER_SECOND, MAX_SIGNALS};
use super::Local;

/// One session's signals.
#[derive(Debug, Default)]
struct Held {
    /// Each signal and when it ends.
    active: Vec<(Rc<str>, Millis)>,
    /// When its latest new signals began, oldest first (at most the per-second limit).
    begun: Vec<Millis>,
}

impl Held {
    fn prune(&mut self, now: Millis) {
        self.active.retain(|(_, until)| *until > now);
        self.begun.retain(|at| now.saturating_sub(*at) < 1_000);
    }

    fn holds(&self, name: &str) -> bool {
        self.active.iter().any(|(n, _)| &**n == name)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Signals {
    by_session: HashMap<Rc<str>, Held>,
}

impl Signals {
    /// Whether `session` may begin or renew `name` at `now`: a renewal always may; a new signal
    /// only within the limits (10 at once, 2 new ones in any second).
    pub fn check(&self, session: &str, name: &str, now: Millis) -> Result<(), Refusal> {
        let Some(h) = self.by_session.get(session) else {
            return Ok(());
        };
        let holds = |n: &str| h.active.iter().any(|(x, t)| &**x == n && *t > now);
        if holds(name) {
            return Ok(());
        }
        let active = h.active.iter().filter(|(_, t)| *t > now).count();
        let recent = h
            .begun
            .iter()
            .filter(|at| now.saturating_sub(**at) < 1_000)
            .count();
        if active >= MAX_SIGNALS || recent >= MAX_NEW_SIGNALS_PER_SECOND {
            return Err(Refusal::TooManySignals);
        }
        Ok(())
    }

    /// Begins or renews `name` on `session` at `now`, to end at `until` (the caller checked it
    /// may). Answers the name as held.
    pub fn begin(&mut self, session: &Rc<str>, name: &str, now: Millis, until: Millis) -> Rc<str> {
        let h = self.by_session.entry(session.clone()).or_default();
        h.prune(now);
        if let Some((n, t)) = h.active.iter_mut().find(|(n, _)| &**n == name) {
            *t = until;
            return n.clone();
        }
        let n: Rc<str> = Rc::from(name);
        h.active.push((n.clone(), until));
        h.begun.push(now);
        n
    }

    /// Ends `name` on `session`: answers it when the session held it.
    pub fn end(&mut self, session: &str, name: &str, now: Millis) -> Option<Rc<str>> {
        let h = self.by_session.get_mut(session)?;
        h.prune(now);
        let held = h.holds(name).then(|| {
            let i = h.active.iter().position(|(n, _)| &**n == name).unwrap_or(0);
            h.active.remove(i).0
        });
        if h.active.is_empty() && h.begun.is_empty() {
            self.by_session.remove(session);
        }
        held
    }

    /// The session ended (or now carries another entity): its signals go with it.
    pub fn forget(&mut self, session: &str) {
        self.by_session.remove(session);
    }

    /// The signals `session` holds at `now`, each with its end.
    pub fn held(&self, session: &str, now: Millis) -> Vec<(Rc<str>, Millis)> {
        (self.by_session.get(session))
            .map(|h| h.active.iter().filter(|(_, t)| *t > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets what ran out by `now` (kept small: sessions that stop signalling leave).
    pub fn prune(&mut self, now: Millis) {
        self.by_session.retain(|_, h| {
            h.prune(now);
            !h.active.is_empty() || !h.begun.is_empty()
        });
    }

    #[cfg(test)]
    pub fn sessions(&self) -> usize {
        self.by_session.len()
    }
}

impl Local {
    /// Whether `session` may begin (`on`) or end its signal `name` at `now`: the session (or
    /// the ping that would start it) carries an entity, the name is one, and a new signal
    /// stays within the session's limits. Checked before anything changes.
    pub fn check_signal(
        &self,
        session: &str,
        entity: Option<&str>,
        name: &str,
        on: bool,
        now: Millis,
    ) -> Result<(), Refusal> {
        let carries = entity.is_some() || self.entity_of(session).is_some();
        if !carries || !valid_signal(name) {
            return Err(Refusal::BadSignal);
        }
        if on {
            self.signals.check(session, name, now)?;
        }
        Ok(())
    }

    /// `session` begins or renews (`on`) or ends its signal `name` at `now` (the caller
    /// checked it may): the site's entities hear of it. Ending one it does not hold does
    /// nothing.
    pub fn signal(&mut self, now: Millis, session: &str, name: &str, on: bool) {
        let Some(held_as) = self.sessions.name(session) else {
            return;
        };
        let Some(entity) = self
            .sessions
            .get(&held_as)
            .and_then(|s| s.entity().cloned())
        else {
            return;
        };
        let (name, until) = if on {
            let until = now + self.cfg.signal_ttl_ms;
            (self.signals.begin(&held_as, name, now, until), Some(until))
        } else {
            match self.signals.end(&held_as, name, now) {
                Some(n) => (n, None),
                None => return,
            }
        };
        self.events.push(EntityEvent::Signal {
            entity,
            session: held_as,
            name,
            until,
            at: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_are_free_new_signals_are_bounded() {
        let mut s = Signals::default();
        let a: Rc<str> = Rc::from("a");
        s.begin(&a, "typing", 0, 5_000);
        s.begin(&a, "recording", 10, 5_010);
        // a third new one within the second is refused; a renewal is not
        assert_eq!(s.check("a", "drawing", 500), Err(Refusal::TooManySignals));
        assert_eq!(s.check("a", "typing", 500), Ok(()));
        // a second later it may
        assert_eq!(s.check("a", "drawing", 1_010), Ok(()));
        // at most 10 at once
        for i in 0..8 {
            let t = 2_000 + i * 1_000;
            s.check("a", &format!("s{i}"), t).unwrap();
            s.begin(&a, &format!("s{i}"), t, t + 60_000);
        }
        assert_eq!(s.held("a", 9_000).len(), 8); // typing and recording ran out at 5 s
        s.begin(&a, "x", 20_000, 80_000);
        s.begin(&a, "y", 21_000, 81_000);
        assert_eq!(s.held("a", 21_000).len(), 10);
        assert_eq!(s.check("a", "z", 30_000), Err(Refusal::TooManySignals));
        // an end frees one
        assert_eq!(s.end("a", "x", 30_000).as_deref(), Some("x"));
        assert_eq!(s.end("a", "x", 30_000), None);
        assert_eq!(s.check("a", "z", 30_000), Ok(()));
        s.forget("a");
        assert_eq!(s.sessions(), 0);
    }

    #[test]
    fn what_ran_out_is_forgotten() {
        let mut s = Signals::default();
        let a: Rc<str> = Rc::from("a");
        s.begin(&a, "typing", 0, 5_000);
        s.prune(4_999);
        assert_eq!(s.sessions(), 1);
        s.prune(5_000);
        assert_eq!(s.sessions(), 0);
    }
}
