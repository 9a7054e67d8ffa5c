//! The signals of the entities' sessions (`typing`): begun, renewed and ended by
//! [`EntityEvent::Signal`](super::super::shards::EntityEvent), and ended when their time runs
//! out (the deadlines live here, on the object that keeps the site's entities, so a sharded
//! site ends them on one clock). A change shows at once, also during a grace.

use std::rc::Rc;

use super::super::types::Millis;
use super::Entities;

impl Entities {
    /// A signal of one of the entity's sessions began or was renewed (`until` when it ends),
    /// or ended (`None`). A renewal shows nothing.
    pub(super) fn signal(
        &mut self,
        entity: &Rc<str>,
        session: &str,
        name: Rc<str>,
        until: Option<Millis>,
        now: Millis,
    ) {
        let Some(name_of) = self.live.get_key_value(&**entity).map(|(k, _)| k.clone()) else {
            return;
        };
        let Some(e) = self.live.get_mut(&*name_of) else {
            return;
        };
        let Some(s) = e.sessions.iter_mut().find(|s| &*s.session == session) else {
            return;
        };
        let key = (name_of.clone(), s.session.clone(), name.clone());
        let held = s.signals.iter().position(|(n, _)| *n == name);
        match (held, until) {
            (Some(i), Some(until)) => {
                self.signal_ends
                    .reschedule(Some(s.signals[i].1), until, key);
                s.signals[i].1 = until;
            }
            (None, Some(until)) => {
                s.signals.push((name, until));
                self.signal_ends.insert(until, key);
            }
            (Some(i), None) => {
                let (_, old) = s.signals.remove(i);
                self.signal_ends.remove(old, &key);
            }
            (None, None) => return,
        }
        self.refresh(&name_of, now);
    }

    /// Ends the signals whose time ran out by `now`.
    pub(super) fn expire_signals(&mut self, now: Millis) {
        while let Some((until, (entity, session, signal))) = self.signal_ends.pop_due(now) {
            let held = self.live.get_mut(&*entity).and_then(|e| {
                let s = e.sessions.iter_mut().find(|s| s.session == session)?;
                let i = s
                    .signals
                    .iter()
                    .position(|(n, t)| *n == signal && *t == until)?;
                s.signals.remove(i);
                Some(())
            });
            if held.is_some() {
                self.refresh(&entity, until);
            }
        }
    }
}
