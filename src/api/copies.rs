//! What an isolate knows of the public reads of each site and room: how often it is read, and
//! the object's last answer. No I/O: the Worker asks [`Copies::read`] what to do with a read and
//! tells [`Copies::keep`] what the object (or the edge cache) answered.
//!
//! Once a site and room is read more than [`FLOOD_READS`] times in a second, reads are answered
//! from a copy at most [`FRESH_MS`] old. The copy is renewed ahead of its end: once it is
//! [`RENEW_AFTER_MS`] old, one read (and only one at a time) goes to the object while the others
//! still get the copy, so a steady flood costs the object about one read a second (1.25), however
//! many readers wait at once. An ordinary reader (no flood) reads the object itself and sees its own writes at once.

use std::collections::HashMap;

/// How old a copy of a count may be when it answers.
pub const FRESH_MS: u64 = 1_000;
/// A copy this old is renewed by the next read, while the others still get it.
pub const RENEW_AFTER_MS: u64 = 800;
/// Reads of one site and room in a second, in one isolate, past which copies answer.
pub const FLOOD_READS: u32 = 50;
/// Copies kept at most (old ones are dropped first).
pub const MAX_COPIES: usize = 4_096;

/// What to do with one read.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Answer with this copy of the object's answer.
    Copy(String),
    /// Read the object. `flood` says whether the key is flooded (then the answer is worth
    /// sharing through the edge cache, and the edge cache is worth asking first unless
    /// `refresh`); `refresh` says this read renews a copy the others still answer with.
    Object { flood: bool, refresh: bool },
    /// In a flood, the copy has ended and the read renewing it is still on its way (a slow
    /// object): wait for its answer (at most [`FRESH_MS`]) instead of reading the object too,
    /// or a late renewal would let every read of that moment through to the object.
    Wait,
}

#[derive(Default)]
struct Copy {
    /// The reads of the current second, and when it began; the reads of the second before.
    second: u64,
    reads: u32,
    before: u32,
    /// The last answer, and when the object gave it.
    at: u64,
    body: Option<String>,
    /// When a read began renewing the copy (0: none on its way).
    renewing: u64,
}

/// Site and room -> its reads and its last answer.
#[derive(Default)]
pub struct Copies {
    keys: HashMap<String, Copy>,
}

impl Copies {
    /// One read of `key` at `now` (ms).
    pub fn read(&mut self, key: &str, now: u64) -> Read {
        if self.keys.len() >= MAX_COPIES && !self.keys.contains_key(key) {
            self.keys
                .retain(|_, c| now < c.second + 2 * FRESH_MS || now < c.at + FRESH_MS);
        }
        if self.keys.len() >= MAX_COPIES && !self.keys.contains_key(key) {
            return Read::Object {
                flood: false,
                refresh: false,
            };
        }
        let c = self.keys.entry(key.to_owned()).or_default();
        if now >= c.second + 1_000 {
            // the second before counts only if it was the one just ended
            c.before = if now < c.second + 2_000 { c.reads } else { 0 };
            c.second = now;
            c.reads = 0;
        }
        c.reads += 1;
        // a flood lasts: the second after one that was flooded is answered from copies at once
        let flood = c.reads.max(c.before) > FLOOD_READS;
        let age = now.saturating_sub(c.at);
        // a renewal is given up after FRESH_MS (then the next read renews)
        let renewing = c.renewing != 0 && now < c.renewing + FRESH_MS;
        match &c.body {
            Some(body) if flood && age < FRESH_MS => {
                if age >= RENEW_AFTER_MS && !renewing {
                    c.renewing = now;
                    Read::Object {
                        flood,
                        refresh: true,
                    }
                } else {
                    Read::Copy(body.clone())
                }
            }
            Some(_) if flood && renewing => Read::Wait,
            Some(_) if flood => {
                // the copy ended with no renewal on its way: this read renews it (the edge
                // cache first), the others wait for it
                c.renewing = now;
                Read::Object {
                    flood,
                    refresh: false,
                }
            }
            _ => Read::Object {
                flood,
                refresh: false,
            },
        }
    }

    /// The object's answer for `key`, as it was at `at` (ms), unless a newer one is kept.
    pub fn keep(&mut self, key: &str, at: u64, body: String) {
        if let Some(c) = self.keys.get_mut(key) {
            if at >= c.at {
                c.at = at;
                c.body = Some(body);
                c.renewing = 0;
            }
        }
    }

    /// The read renewing `key` failed: the next read renews it.
    pub fn renewal_failed(&mut self, key: &str) {
        if let Some(c) = self.keys.get_mut(key) {
            c.renewing = 0;
        }
    }

    /// How many keys are known.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flood(c: &mut Copies, key: &str, now: u64) {
        for _ in 0..=FLOOD_READS {
            c.read(key, now);
        }
    }

    #[test]
    fn an_ordinary_reader_reads_the_object() {
        let mut c = Copies::default();
        for i in 0..FLOOD_READS {
            c.keep("s\n", 0, "old".into());
            assert_eq!(
                c.read("s\n", u64::from(i)),
                Read::Object {
                    flood: false,
                    refresh: false
                }
            );
        }
    }

    #[test]
    fn a_flood_is_answered_from_a_copy_renewed_ahead_by_one_read() {
        let mut c = Copies::default();
        flood(&mut c, "s\n", 10_000);
        assert_eq!(
            c.read("s\n", 10_000),
            Read::Object {
                flood: true,
                refresh: false
            }
        );
        c.keep("s\n", 10_010, "a".into());
        // young copy: everyone gets it
        for t in 10_010..10_810 {
            assert_eq!(c.read("s\n", t), Read::Copy("a".into()));
        }
        // renewal due: one read renews, the rest keep the copy
        assert_eq!(
            c.read("s\n", 10_810),
            Read::Object {
                flood: true,
                refresh: true
            }
        );
        for t in 10_811..11_010 {
            assert_eq!(c.read("s\n", t), Read::Copy("a".into()));
        }
        // the renewal is late: past the copy's end, reads wait for it, none reads the object
        for t in 11_010..11_810 {
            assert_eq!(c.read("s\n", t), Read::Wait);
        }
        // a renewal answered ends the wait
        c.keep("s\n", 11_020, "b".into());
        assert_eq!(c.read("s\n", 11_811), Read::Copy("b".into()));
    }

    #[test]
    fn a_renewal_that_never_comes_is_given_up_after_a_copy_s_life() {
        let mut c = Copies::default();
        flood(&mut c, "s\n", 10_000);
        c.keep("s\n", 10_000, "a".into());
        assert!(matches!(
            c.read("s\n", 10_800),
            Read::Object { refresh: true, .. }
        ));
        // waited for until 1 s after it began, then one read renews again, the others wait
        assert_eq!(c.read("s\n", 11_799), Read::Wait);
        assert_eq!(
            c.read("s\n", 11_800),
            Read::Object {
                flood: true,
                refresh: false
            }
        );
        for t in 11_801..12_000 {
            assert_eq!(c.read("s\n", t), Read::Wait);
        }
        // a failed renewal: the next read renews at once
        c.renewal_failed("s\n");
        assert!(matches!(c.read("s\n", 12_000), Read::Object { .. }));
        assert_eq!(c.read("s\n", 12_001), Read::Wait);
    }

    /// 10 s of a read every `every` ms, each object read answered `latency` ms later and kept
    /// as of the time it was sent (as the Worker keeps it): how many reads reached the object.
    fn reads_reaching_the_object(every: u64, latency: u64) -> u32 {
        let mut c = Copies::default();
        let mut reached = 0;
        let mut pending: Vec<u64> = vec![];
        for ms in 0..10_000u64 {
            pending.retain(|&done| {
                if done == ms {
                    c.keep("s\n", ms - latency, format!("{ms}"));
                    false
                } else {
                    true
                }
            });
            if ms % every == 0 {
                if let Read::Object { .. } = c.read("s\n", ms) {
                    reached += 1;
                    pending.push(ms + latency);
                }
            }
        }
        reached
    }

    #[test]
    fn a_flood_on_a_slow_object_costs_about_one_object_read_a_second() {
        // 200 reads a second; the object answers in 400 ms (longer than a copy's renewal lead
        // of 200 ms)
        let reached = reads_reaching_the_object(5, 400);
        // the reads before the flood is seen and while the first answer is on its way (81),
        // then one renewal per copy's life or less
        assert!(reached <= 81 + 13, "{reached} reads reached the object");
    }

    #[test]
    fn a_steady_flood_costs_about_one_object_read_a_second() {
        // 500 reads a second; the object answers in 20 ms
        let reached = reads_reaching_the_object(2, 20);
        // the first FLOOD_READS + the reads while the first answer is on its way, then one per
        // 800 ms
        assert!(
            reached <= FLOOD_READS + 11 + 13 + 1,
            "{reached} reads reached the object"
        );
    }

    #[test]
    fn an_older_answer_never_replaces_a_newer_copy() {
        let mut c = Copies::default();
        flood(&mut c, "s\n", 0);
        c.keep("s\n", 500, "new".into());
        c.keep("s\n", 400, "old".into());
        assert_eq!(c.read("s\n", 600), Read::Copy("new".into()));
    }

    #[test]
    fn keys_are_bounded() {
        let mut c = Copies::default();
        for i in 0..MAX_COPIES + 10 {
            c.read(&format!("s{i}\n"), 0);
        }
        assert!(c.len() <= MAX_COPIES);
        // later, old keys give way to new ones
        c.read("late\n", 10_000);
        assert!(c.len() <= MAX_COPIES);
        assert!(matches!(c.read("late\n", 10_001), Read::Object { .. }));
    }
}
