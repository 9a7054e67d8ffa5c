//! The coordinator side: applies the shards' reports (their tallies and entity events), answers
//! and pushes the site's totals, and keeps the site's room slots.
//!
//! The coordinator adds its own tallies to the latest report of each shard: those are the site's
//! **totals** (its answers to `/v1/count` and `/v1/rooms`, its history). A report not renewed
//! within [`REPORT_TTL_MS`] stops counting: a shard that is gone cannot count forever. It
//! **pushes** the totals back to every shard with sockets or sessions when they change (at most
//! once per interval per shard); a report's answer carries them too.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::super::broadcast::View;
use super::super::entities::Entities;
use super::super::local::Local;
use super::super::slots::{RoomSlots, RoomStats};
use super::super::types::{Counts, Millis, RoomCounts, OVERFLOW_ROOM};
use super::protocol::{EntityEvent, Report, ReportRoom, Totals};
use super::shard::KEEPALIVE_MS;
use super::{add, counts_of};

/// A shard's report stops counting when it is not renewed within this time.
pub const REPORT_TTL_MS: Millis = 3 * KEEPALIVE_MS;

/// What a report changed for the coordinator's own sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    /// The site's totals (count messages may be due).
    pub totals: bool,
    /// Some shard's anonymous counts (members messages may be due).
    pub anonymous: bool,
}

/// Object 0 of a sharded site.
#[derive(Debug)]
pub(crate) struct Coordinator {
    instance: u64,
    reports: Reports,
    /// `MAX_ROOMS` over the site (see `slots.rs`).
    slots: RoomSlots,
    /// The site's rooms may have changed since the slots were last updated.
    slots_stale: bool,
    /// When a throttled push falls due.
    push_wake: Option<Millis>,
}

impl Coordinator {
    /// The coordinator of `shards` objects, as instance `instance`: it greets its shards, so
    /// they report in full to the new instance.
    pub fn new(instance: u64, shards: u32, max_rooms: usize) -> Self {
        let mut slots = RoomSlots::new(max_rooms);
        slots.start_at(instance);
        let mut reports = Reports::default();
        reports.hello.extend(1..shards);
        Coordinator {
            instance,
            reports,
            slots,
            slots_stale: false,
            push_wake: None,
        }
    }

    pub fn slots(&self) -> &RoomSlots {
        &self.slots
    }

    /// A room appeared or emptied here: the slots look again at the next poll.
    pub fn rooms_changed(&mut self) {
        self.slots_stale = true;
    }

    /// What a socket viewing `room` (or the site alone) shows: this object's tallies plus the
    /// shards' reports, a room counted in `~other` when the site is full and it has no slot.
    pub fn view(&self, local: &Local, room: Option<&str>) -> View {
        let site = add(local.site(), self.reports.site_sum);
        let room = room.map(|r| {
            if r == OVERFLOW_ROOM {
                add(local.other(), self.reports.other(self.slots.version()))
            } else if self.slots.keeps(r) {
                add(local.room(r), self.reports.room(r))
            } else {
                Counts::default() // counted in the group, as on one object
            }
        });
        View { site, room }
    }

    /// Every room's counts over the site as answers show them (named rooms and `~other`).
    pub fn all_rooms(&self, local: &Local) -> HashMap<String, Counts> {
        let other = add(local.other(), self.reports.other(self.slots.version()));
        self.slots.fold(&merged_stats(&self.reports, local), other)
    }

    /// The shards' anonymous counts of `room` (those that reported it).
    pub fn anonymous(&self, room: &str) -> Counts {
        self.reports
            .held
            .values()
            .flat_map(|h| h.report.anonymous.iter())
            .filter(|r| r.room == room)
            .fold(Counts::default(), |a, r| add(a, counts_of(r)))
    }

    /// A shard's report arrived at `now`: its entity events go to the site's `entities`, its
    /// tallies into the totals. Answers the totals for that shard and what changed here.
    pub fn receive(
        &mut self,
        now: Millis,
        report: Report,
        entities: &mut Entities,
        local: &mut Local,
    ) -> (Totals, Changed) {
        let shard = report.shard;
        apply_entities(shard, &report, entities, now);
        let (views, held) = (report.views.clone(), report.slots);
        let changed = self.reports.receive(now, report);
        if changed.totals {
            self.slots_stale = true;
            self.refresh_slots(local);
        }
        let totals = self.totals_for(local, &views, held);
        self.reports.answered(shard, &totals, now);
        (totals, changed)
    }

    /// The site's named rooms after a change of its rooms; answers whether they changed.
    pub fn refresh_slots(&mut self, local: &mut Local) -> bool {
        if !std::mem::take(&mut self.slots_stale) {
            return false;
        }
        if self.reports.held.is_empty() && !self.slots.is_full() {
            return false; // this object alone caps its own rooms
        }
        let upper = local.room_count() + self.reports.room_sums.len();
        let reports = &self.reports;
        if !self.slots.update(upper, || merged_stats(reports, local)) {
            return false;
        }
        local.follow(&self.slots);
        true
    }

    /// Drops the reports not renewed by `now` and answers the pushes due then, and whether the
    /// totals changed.
    pub fn poll(
        &mut self,
        now: Millis,
        interval: Millis,
        local: &mut Local,
    ) -> (Vec<(u32, Totals)>, bool) {
        let expired = self.reports.expire(now);
        if expired {
            self.slots_stale = true;
        }
        let slots_moved = self.refresh_slots(local);
        let totals: Vec<(u32, Totals)> = self
            .reports
            .viewers()
            .into_iter()
            .map(|(shard, views)| {
                let held = self.reports.slots_held(shard);
                (shard, self.totals_for(local, &views, held))
            })
            .collect();
        let (pushes, pending) = self.reports.pushes(now, interval, totals);
        self.push_wake = pending;
        (pushes, expired || slots_moved)
    }

    /// When the coordinator must be woken: a report running out, or a throttled push.
    pub fn next_wake(&self) -> Option<Millis> {
        [self.reports.next_expiry(), self.push_wake]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether any shard reported (the totals are more than this object's).
    pub fn has_reports(&self) -> bool {
        !self.reports.held.is_empty()
    }

    /// The totals for a shard whose sockets view `views`, holding slots version `held`.
    fn totals_for(&self, local: &Local, views: &[String], held: u64) -> Totals {
        let slots = self.slots.version();
        let site = self.view(local, None).site;
        let rooms = views
            .iter()
            .map(|r| RoomCounts::new(r, self.view(local, Some(r)).room.unwrap_or_default()))
            .collect();
        Totals {
            slots,
            named: (slots != 0 && held != slots).then(|| self.slots.names()),
            instance: self.instance,
            site,
            rooms,
            members_rooms: local.members_rooms(),
        }
    }
}

/// Every room's stats over the site, under its own name: this object's and its shards'.
fn merged_stats(reports: &Reports, local: &Local) -> HashMap<String, RoomStats> {
    let mut all = reports.room_sums.clone();
    for (room, stats) in local.room_stats() {
        let e = all.entry(room).or_default();
        *e = e.add(stats);
    }
    all
}

fn stats_of(r: &ReportRoom) -> RoomStats {
    RoomStats {
        counts: Counts {
            sessions: r.sessions,
            visitors: r.visitors,
        },
        addresses: r.addresses,
        since: r.since,
    }
}

/// Applies a report's entity events to the site's entities: a snapshot first ends every other
/// session that shard was known to hold.
fn apply_entities(shard: u32, report: &Report, entities: &mut Entities, now: Millis) {
    if report.snapshot {
        let keep: HashSet<(Rc<str>, Rc<str>)> = report
            .entities
            .iter()
            .filter_map(|e| match e {
                EntityEvent::Start {
                    entity, session, ..
                } => Some((entity.clone(), session.clone())),
                _ => None,
            })
            .collect();
        entities.replace_shard(shard, &keep, now);
    }
    for event in &report.entities {
        entities.apply(event.clone(), shard);
    }
}

#[derive(Clone, Debug)]
struct Held {
    report: Report,
    at: Millis,
}

/// The latest report of each shard, and what each was last pushed.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    held: HashMap<u32, Held>,
    /// The sums of the reports, kept up to date on every receive and expiry.
    site_sum: Counts,
    room_sums: HashMap<String, RoomStats>,
    /// The totals each shard was last sent, and when.
    pushed: HashMap<u32, (Totals, Millis)>,
    /// Shards that must hear from this instance (it started after them).
    hello: HashSet<u32>,
}

impl Reports {
    /// Keeps a shard's report; answers what changed.
    pub fn receive(&mut self, now: Millis, mut report: Report) -> Changed {
        report.entities.clear();
        let old = self.held.get(&report.shard);
        let totals = old.is_none_or(|h| {
            h.report.site != report.site
                || h.report.rooms != report.rooms
                || h.report.other != report.other
        });
        let anonymous = old.is_none_or(|h| h.report.anonymous != report.anonymous);
        self.held.insert(report.shard, Held { report, at: now });
        if totals {
            self.sum();
        }
        Changed { totals, anonymous }
    }

    fn sum(&mut self) {
        self.site_sum = Counts::default();
        self.room_sums.clear();
        for h in self.held.values() {
            self.site_sum = add(self.site_sum, h.report.site);
            for r in &h.report.rooms {
                let e = self.room_sums.entry(r.room.clone()).or_default();
                *e = e.add(stats_of(r));
            }
        }
    }

    /// Drops the reports not renewed in time; answers whether any counted.
    pub fn expire(&mut self, now: Millis) -> bool {
        let before = self.held.len();
        self.held.retain(|_, h| h.at + REPORT_TTL_MS > now);
        let changed = before != self.held.len();
        if changed {
            self.sum();
        }
        changed
    }

    /// When the earliest report runs out.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.held.values().map(|h| h.at + REPORT_TTL_MS).min()
    }

    /// The shards' part of the site's counts.
    #[cfg(test)]
    pub fn site(&self) -> Counts {
        self.site_sum
    }

    /// The shards' part of a room's counts.
    pub fn room(&self, room: &str) -> Counts {
        self.room_sums
            .get(room)
            .map(|s| s.counts)
            .unwrap_or_default()
    }

    /// The shards' part of `~other`: each shard's own group (exact distinct visitors) when it
    /// follows the slots of `version`, else its rooms without a slot added up.
    pub fn other(&self, version: u64) -> Counts {
        self.held.values().fold(Counts::default(), |sum, h| {
            let other = if h.report.slots == version {
                h.report.other
            } else {
                Counts::default() // it has not heard of these slots yet: its rooms are named
            };
            add(sum, other)
        })
    }

    /// The version of the site's named rooms shard `shard` said it holds.
    fn slots_held(&self, shard: u32) -> u64 {
        self.held.get(&shard).map_or(0, |h| h.report.slots)
    }

    /// The shards to send totals to, with the rooms each views.
    pub fn viewers(&self) -> Vec<(u32, Vec<String>)> {
        let mut out: Vec<(u32, Vec<String>)> = self
            .held
            .values()
            // sockets show the totals; sessions' ping answers carry them too
            .filter(|h| {
                h.report.sockets > 0
                    || h.report.site.sessions > 0
                    || self.hello.contains(&h.report.shard)
            })
            .map(|h| (h.report.shard, h.report.views.clone()))
            .collect();
        for s in &self.hello {
            if !self.held.contains_key(s) {
                out.push((*s, Vec::new()));
            }
        }
        crate::sort::sort_by_key(&mut out, |(s, _)| *s);
        out
    }

    /// The pushes due at `now`, from the totals each viewer would get now (`totals`): a shard
    /// whose totals changed, at most once per `interval`; a greeted shard at once. Answers them
    /// and when a throttled one falls due.
    pub fn pushes(
        &mut self,
        now: Millis,
        interval: Millis,
        totals: Vec<(u32, Totals)>,
    ) -> (Vec<(u32, Totals)>, Option<Millis>) {
        let mut out = Vec::new();
        let mut pending: Option<Millis> = None;
        for (shard, t) in totals {
            let hello = self.hello.contains(&shard);
            match self.pushed.get(&shard) {
                _ if hello => {}
                Some((last, _)) if *last == t => continue,
                Some((_, at)) if now < at + interval => {
                    let ready = at + interval;
                    pending = Some(pending.map_or(ready, |p| p.min(ready)));
                    continue;
                }
                _ => {}
            }
            self.pushed.insert(shard, (t.clone(), now));
            self.hello.remove(&shard);
            out.push((shard, t));
        }
        (out, pending)
    }

    /// The totals a shard was just answered with count as pushed.
    pub fn answered(&mut self, shard: u32, t: &Totals, now: Millis) {
        self.pushed.insert(shard, (t.clone(), now));
        self.hello.remove(&shard);
    }

    /// Greets shards 1..k (tests: a coordinator that restarted).
    #[cfg(test)]
    pub fn greet(&mut self, k: u32) {
        self.hello.extend(1..k);
    }
}
