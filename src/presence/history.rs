//! History: the site's counts over time, for `/v1/history` and the owner's dashboard.
//!
//! Time is cut into minutes. For each minute in which a count changed, one row is stored when
//! the minute ends: the highest sessions and the highest visitors seen during it, and the counts
//! it closed with. A minute without a row had no change, so it held the previous row's closing
//! counts all along. That costs at most one row per site per minute (none while nothing changes)
//! and answers any range exactly: a step (1, 5 or 60 minutes) holds the highest value of its
//! minutes. The minute in progress lives in memory until it ends (the core asks to be woken
//! then, so it is stored even if nothing else happens).

use serde::Serialize;

use super::types::{Counts, Millis};
#[cfg(not(target_arch = "wasm32"))]
use crate::api::words::schema as words;

/// One minute.
pub const MINUTE_MS: Millis = 60_000;
/// How long rows are kept (the widest range is 7 days; one more day to spare).
pub const KEEP_MS: Millis = 8 * 24 * 3600 * 1000;

/// A stored minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinuteRow {
    /// The minute's start, epoch ms (a multiple of [`MINUTE_MS`]).
    pub t: Millis,
    /// The highest counts seen during the minute.
    pub max: Counts,
    /// The counts when it ended.
    pub close: Counts,
}

/// The minute in progress.
#[derive(Clone, Copy, Debug, Default)]
pub struct History {
    current: Option<MinuteRow>,
    /// A count changed during the current minute: it must be stored when it ends.
    dirty: bool,
}

impl History {
    /// The counts are `counts` at `now`; answers the row of a minute that just ended, if any.
    pub fn observe(&mut self, now: Millis, counts: Counts) -> Option<MinuteRow> {
        let minute = now - now % MINUTE_MS;
        let mut ended = None;
        match &mut self.current {
            Some(cur) if cur.t == minute => {
                if counts != cur.close {
                    self.dirty = true;
                }
                cur.max.sessions = cur.max.sessions.max(counts.sessions);
                cur.max.visitors = cur.max.visitors.max(counts.visitors);
                cur.close = counts;
                return None;
            }
            Some(cur) => {
                if self.dirty {
                    ended = Some(*cur);
                }
                self.dirty = counts != cur.close;
            }
            // nothing to store for a first minute with nobody in it
            None => self.dirty = counts != Counts::default(),
        }
        // A new minute opens with the counts the last one closed with (nothing changed since,
        // or this call saw the change).
        let open = self.current.map_or(counts, |c| c.close);
        self.current = Some(MinuteRow {
            t: minute,
            max: Counts {
                sessions: open.sessions.max(counts.sessions),
                visitors: open.visitors.max(counts.visitors),
            },
            close: counts,
        });
        ended
    }

    /// The minute in progress, if it has anything to store yet.
    pub fn pending(&self) -> Option<MinuteRow> {
        self.current.filter(|_| self.dirty)
    }

    /// When the minute in progress ends, if it must then be stored.
    pub fn next_wake(&self) -> Option<Millis> {
        self.pending().map(|c| c.t + MINUTE_MS)
    }
}

/// A range of `/v1/history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
}

impl Range {
    /// Every range, shortest first (for the OpenAPI document).
    #[cfg(not(target_arch = "wasm32"))]
    pub const ALL: [Range; 3] = [Range::Hour, Range::Day, Range::Week];

    pub fn parse(s: &str) -> Option<Range> {
        match s {
            "1h" => Some(Range::Hour),
            "24h" => Some(Range::Day),
            "7d" => Some(Range::Week),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
        }
    }

    pub fn step_ms(self) -> Millis {
        match self {
            Range::Hour => MINUTE_MS,
            Range::Day => 5 * MINUTE_MS,
            Range::Week => 60 * MINUTE_MS,
        }
    }

    pub fn points(self) -> u64 {
        match self {
            Range::Hour => 60,
            Range::Day => 288,
            Range::Week => 168,
        }
    }

    /// The first and the last step start of the range that ends with the step holding `now`.
    pub fn span(self, now: Millis) -> (Millis, Millis) {
        let step = self.step_ms();
        let last = now - now % step;
        (last.saturating_sub((self.points() - 1) * step), last)
    }
}

/// One step: its start (`t`, a multiple of `step_ms`) and the highest `sessions` and `visitors`
/// seen during it (0 when nobody was there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(rename = "HistoryPoint", deny_unknown_fields)
)]
pub struct Point {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EpochMillis"))]
    pub t: Millis,
    pub sessions: u32,
    pub visitors: u32,
}

/// The site's counts over time: `points` run oldest first and end with the step that holds
/// now; `peak` is `null` when every point is 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields, transform = schema::by_range, example = schema::example())
)]
pub struct HistoryAnswer {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::SiteKey"))]
    pub site: String,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::HistoryRange"))]
    pub range: &'static str,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(schema_with = "schema::step_ms"))]
    pub step_ms: Millis,
    pub points: Vec<Point>,
    pub peak: Option<Peak>,
}

/// The highest point of the range (most sessions, then most visitors, then the earliest),
/// with its `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(rename = "HistoryPeak", deny_unknown_fields)
)]
pub struct Peak {
    pub sessions: u32,
    pub visitors: u32,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EpochMillis"))]
    pub t: Millis,
}

/// What the answer's schema says beyond its fields (native builds only): each range has its
/// step and its number of points.
#[cfg(not(target_arch = "wasm32"))]
mod schema {
    use schemars::{json_schema, Schema, SchemaGenerator};

    use super::{HistoryAnswer, Peak, Point, Range};

    /// `step_ms`: the step of one of the ranges.
    pub fn step_ms(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "enum": Range::ALL.map(Range::step_ms) })
    }

    /// One of: a range, its step, as many points as it has, each `t` (and the peak's) a
    /// multiple of the step.
    pub fn by_range(schema: &mut Schema) {
        let step_multiple = |step| json_schema!({ "type": "integer", "multipleOf": step });
        let cases: Vec<Schema> = Range::ALL
            .iter()
            .map(|r| {
                let (step, n) = (r.step_ms(), r.points());
                json_schema!({
                    "type": "object",
                    "properties": {
                        "range": { "const": r.name() },
                        "step_ms": { "const": step },
                        "points": {
                            "type": "array",
                            "minItems": n,
                            "maxItems": n,
                            "items": { "type": "object", "properties": { "t": step_multiple(step) } },
                        },
                        "peak": {
                            "anyOf": [
                                { "type": "null" },
                                { "type": "object", "properties": { "t": step_multiple(step) } },
                            ],
                        },
                    },
                })
            })
            .collect();
        schema.insert("oneOf".into(), cases.into());
    }

    pub fn example() -> HistoryAnswer {
        let now = 1_763_800_000_000;
        HistoryAnswer {
            site: "example.com".into(),
            range: Range::Hour.name(),
            step_ms: Range::Hour.step_ms(),
            points: vec![Point {
                t: now - now % Range::Hour.step_ms(),
                sessions: 12,
                visitors: 9,
            }],
            peak: Some(Peak {
                sessions: 40,
                visitors: 31,
                t: 1_763_800_020_000,
            }),
        }
    }
}

/// Walks the minutes from `first` to `end` (at most 10,080 for a week) into the points of
/// `step` ms: a minute with a row holds its max; one without holds the closing counts of the row
/// before it (`carry` for the first).
fn fill(
    points: &mut [Point],
    (first, end, step): (Millis, Millis, Millis),
    mut carry: Counts,
    rows: &[MinuteRow],
) {
    let mut next = rows.iter().peekable();
    let mut minute = first;
    while minute <= end {
        let held = match next.next_if(|r| r.t == minute) {
            Some(r) => {
                carry = r.close;
                r.max
            }
            None => carry,
        };
        let i = ((minute - first) / step) as usize;
        if let Some(p) = points.get_mut(i) {
            p.sessions = p.sessions.max(held.sessions);
            p.visitors = p.visitors.max(held.visitors);
        }
        minute += MINUTE_MS;
    }
}

/// The highest point: most sessions, then most visitors, then the earliest; none when all are 0.
fn peak_of(points: &[Point]) -> Option<Peak> {
    points
        .iter()
        .filter(|p| p.sessions > 0 || p.visitors > 0)
        .min_by_key(|p| (std::cmp::Reverse((p.sessions, p.visitors)), p.t))
        .map(|p| Peak {
            sessions: p.sessions,
            visitors: p.visitors,
            t: p.t,
        })
}

/// The points of `range` at `now` from the stored minutes `rows` (those of the range, oldest
/// first), the last row before the range (`before`, whose closing counts carry in), and the
/// minute in progress (`pending`).
pub fn answer(
    site: &str,
    range: Range,
    now: Millis,
    before: Option<MinuteRow>,
    rows: &[MinuteRow],
    pending: Option<MinuteRow>,
) -> HistoryAnswer {
    let step = range.step_ms();
    let (first, last) = range.span(now);
    let mut points: Vec<Point> = (0..range.points())
        .map(|i| Point {
            t: first + i * step,
            sessions: 0,
            visitors: 0,
        })
        .collect();
    // rows before the range only carry their closing counts in
    let before = rows
        .iter()
        .copied()
        .filter(|r| r.t < first)
        .chain(before)
        .max_by_key(|r| r.t);
    let mut all: Vec<MinuteRow> = rows.iter().copied().filter(|r| r.t >= first).collect();
    if let Some(p) = pending.filter(|p| p.t >= first) {
        all.retain(|r| r.t != p.t);
        all.push(p);
    }
    crate::sort::sort_by_key(&mut all, |r| r.t);
    let carry = before
        .filter(|b| b.t < first)
        .map(|b| b.close)
        .unwrap_or_default();
    let end = (now - now % MINUTE_MS).min(last + step - MINUTE_MS);
    fill(&mut points, (first, end, step), carry, &all);
    let peak = peak_of(&points);
    HistoryAnswer {
        site: site.to_owned(),
        range: range.name(),
        step_ms: step,
        points,
        peak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sessions: u32, visitors: u32) -> Counts {
        Counts { sessions, visitors }
    }

    /// A day, far from any step boundary: 10:07:42.123 on 2026-11-23 (UTC).
    const T0: Millis = 1_795_428_462_123;
    /// The start of T0's minute.
    const M0: Millis = T0 - T0 % MINUTE_MS;

    /// Feeds (time, counts) changes through `History` as the core would, collecting rows.
    fn run(changes: &[(Millis, Counts)], until: Millis) -> (Vec<MinuteRow>, History) {
        let mut h = History::default();
        let mut rows = Vec::new();
        for &(t, counts) in changes {
            rows.extend(h.observe(t, counts));
        }
        let last = changes.last().map_or(c(0, 0), |x| x.1);
        // the wake at the end of each dirty minute
        while let Some(w) = h.next_wake().filter(|w| *w <= until) {
            rows.extend(h.observe(w, last));
        }
        (rows, h)
    }

    #[test]
    fn a_minute_stores_its_highest_counts_once_and_quiet_minutes_store_nothing() {
        let (rows, h) = run(
            &[
                (T0, c(1, 1)),
                (T0 + 1_000, c(5, 3)),
                (T0 + 2_000, c(2, 2)),
                (T0 + 3 * MINUTE_MS, c(4, 4)),
            ],
            T0 + 10 * MINUTE_MS,
        );
        let m0 = T0 - T0 % MINUTE_MS;
        assert_eq!(
            rows,
            [
                MinuteRow {
                    t: m0,
                    max: c(5, 3),
                    close: c(2, 2)
                },
                MinuteRow {
                    t: m0 + 3 * MINUTE_MS,
                    max: c(4, 4),
                    close: c(4, 4)
                },
            ]
        );
        assert_eq!(h.pending(), None, "nothing left to store");
    }

    #[test]
    fn the_hour_holds_each_minutes_highest_and_carries_quiet_minutes() {
        let (rows, h) = run(
            &[
                (M0 + 1_000, c(3, 2)),
                (M0 + 20_000, c(7, 5)),
                (M0 + 40_000, c(1, 1)),
                (M0 + 5 * MINUTE_MS, c(2, 2)),
            ],
            M0 + 5 * MINUTE_MS + 10_000,
        );
        let now = M0 + 8 * MINUTE_MS + 42_123;
        let a = answer("s", Range::Hour, now, None, &rows, h.pending());
        assert_eq!((a.range, a.step_ms, a.points.len()), ("1h", 60_000, 60));
        let last = now - now % MINUTE_MS;
        assert_eq!(
            a.points.last().unwrap().t,
            last,
            "ends with the step that holds now"
        );
        assert!(a.points.windows(2).all(|p| p[1].t - p[0].t == 60_000));
        let at = |m: u64| {
            let t = M0 + m * MINUTE_MS;
            let p = a.points.iter().find(|p| p.t == t).unwrap();
            (p.sessions, p.visitors)
        };
        assert_eq!(at(0), (7, 5));
        assert_eq!(at(1), (1, 1), "a quiet minute holds the closing counts");
        assert_eq!(at(4), (1, 1));
        assert_eq!(at(5), (2, 2));
        assert_eq!(at(8), (2, 2), "the minute in progress");
        let before = a.points.iter().filter(|p| p.t < M0);
        assert!(before.clone().count() > 0 && before.into_iter().all(|p| p.sessions == 0));
        assert_eq!(
            a.peak,
            Some(Peak {
                sessions: 7,
                visitors: 5,
                t: M0
            })
        );
    }

    #[test]
    fn a_day_and_a_week_take_the_highest_minute_of_each_step_and_carry_in_from_before() {
        // two days ago it went to 9 and stayed; an hour ago a peak of 20 for one minute
        let long_ago = T0 - 2 * 24 * 3600 * 1000;
        let spike = T0 - 3600 * 1000;
        let (rows, h) = run(
            &[
                (long_ago, c(9, 9)),
                (spike, c(20, 12)),
                (spike + 30_000, c(9, 9)),
            ],
            T0,
        );
        let day = answer("s", Range::Day, T0, Some(rows[0]), &rows[1..], h.pending());
        assert_eq!((day.points.len(), day.step_ms), (288, 300_000));
        assert!(day.points.iter().all(|p| p.t % 300_000 == 0));
        assert!(
            day.points.iter().all(|p| p.sessions >= 9),
            "carried in from before the range"
        );
        let spike_step = spike - spike % 300_000;
        let p = day.points.iter().find(|p| p.t == spike_step).unwrap();
        assert_eq!((p.sessions, p.visitors), (20, 12));
        assert_eq!(day.peak.unwrap().t, spike_step);
        let week = answer("s", Range::Week, T0, None, &rows, h.pending());
        assert_eq!((week.points.len(), week.step_ms), (168, 3_600_000));
        let before_first = week.points.iter().filter(|p| p.t + 3_600_000 <= long_ago);
        assert!(
            before_first.into_iter().all(|p| p.sessions == 0),
            "nobody before the first row"
        );
        assert_eq!(week.peak.unwrap().sessions, 20);
    }

    #[test]
    fn an_empty_range_has_no_peak_and_every_point_is_zero() {
        let a = answer("s", Range::Week, T0, None, &[], None);
        assert!(a.points.iter().all(|p| p.sessions == 0 && p.visitors == 0));
        assert_eq!(a.peak, None);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["peak"], serde_json::Value::Null);
        assert_eq!(json["range"], "7d");
    }

    #[test]
    fn the_answer_matches_a_minute_by_minute_model_for_random_loads() {
        let mut x: u64 = 0x9e37_79b9;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..50 {
            let start = T0 - 2 * 3600 * 1000 + rnd(MINUTE_MS);
            let mut changes = Vec::new();
            let mut t = start;
            let mut model: std::collections::BTreeMap<Millis, Counts> = Default::default();
            while t < T0 {
                t += rnd(5 * MINUTE_MS);
                let s = rnd(30) as u32;
                let next = c(s, s - rnd(u64::from(s) + 1) as u32);
                changes.push((t, next));
            }
            // the model: for each minute, the highest counts it saw (its opening counts too)
            let end = T0;
            let mut value = c(0, 0);
            let mut i = 0;
            let mut m = start - start % MINUTE_MS;
            while m <= end - end % MINUTE_MS {
                let mut max = value;
                while i < changes.len() && changes[i].0 < m + MINUTE_MS {
                    if changes[i].0 <= end {
                        value = changes[i].1;
                        max.sessions = max.sessions.max(value.sessions);
                        max.visitors = max.visitors.max(value.visitors);
                    }
                    i += 1;
                }
                model.insert(m, max);
                m += MINUTE_MS;
            }
            let (rows, h) = run(
                &changes
                    .iter()
                    .copied()
                    .filter(|c| c.0 <= end)
                    .collect::<Vec<_>>(),
                end,
            );
            for range in [Range::Hour, Range::Day] {
                let a = answer("s", range, end, None, &rows, h.pending());
                for p in &a.points {
                    let want = model
                        .range(p.t..p.t + a.step_ms)
                        .fold(c(0, 0), |acc, (_, v)| {
                            c(acc.sessions.max(v.sessions), acc.visitors.max(v.visitors))
                        });
                    assert_eq!(
                        (p.sessions, p.visitors),
                        (want.sessions, want.visitors),
                        "{range:?} at {}",
                        p.t
                    );
                }
            }
        }
    }
}
