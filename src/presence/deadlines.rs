//! One queue of deadlines, used for every timer of the core: HTTP holds, silent sockets and
//! entity graces. Timers are data (as in quinn-proto's `timer.rs`): the core never sleeps; it
//! asks [`Deadlines::next`] when to be woken and pops what fell due.
//!
//! The holder of a key remembers the time it scheduled it at (it needs it anyway, to answer
//! "live until when"), so moving or cancelling a key names that time: no second index.

use std::collections::BTreeSet;

use super::types::Millis;

#[derive(Debug)]
pub(crate) struct Deadlines<K: Ord> {
    queue: BTreeSet<(Millis, K)>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            queue: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    pub fn insert(&mut self, at: Millis, key: K) {
        self.queue.insert((at, key));
    }

    pub fn remove(&mut self, at: Millis, key: &K) {
        self.queue.remove(&(at, key.clone()));
    }

    /// Moves `key` from `old` (if it was scheduled) to `new`.
    pub fn reschedule(&mut self, old: Option<Millis>, new: Millis, key: K) {
        if let Some(old) = old {
            self.remove(old, &key);
        }
        self.insert(new, key);
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Millis> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Takes the earliest key due at or before `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<(Millis, K)> {
        match self.queue.first() {
            Some((t, _)) if *t <= now => self.queue.pop_first(),
            _ => None,
        }
    }

    /// The keys due strictly before `t`, earliest first.
    pub fn due_before(&self, t: Millis) -> impl Iterator<Item = &K> {
        self.queue
            .iter()
            .take_while(move |(at, _)| *at < t)
            .map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fall_due_in_time_order_and_move_when_rescheduled() {
        let mut d: Deadlines<&str> = Deadlines::default();
        d.insert(30, "c");
        d.insert(10, "a");
        d.insert(20, "b");
        assert_eq!(d.next(), Some(10));
        d.reschedule(Some(10), 40, "a");
        assert_eq!(d.due_before(40).copied().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(d.pop_due(19), None);
        assert_eq!(d.pop_due(20), Some((20, "b")));
        d.remove(30, &"c");
        assert_eq!(d.pop_due(100), Some((40, "a")));
        assert_eq!(d.next(), None);
    }
}
