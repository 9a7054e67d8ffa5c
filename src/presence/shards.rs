//! One site over many objects: what shards tell the coordinator and what it tells them back.
//!
//! A site with `"shards": K` is spread over K objects. Object 0 (named after the site, the same
//! object an unsharded site has) is the **coordinator**; objects 1..K are **shards**. The Worker
//! places every session of a visitor on one object (by a hash of the visitor id), so distinct
//! visitors add up across objects exactly, and spreads plain subscriber sockets over all of them.
//!
//! - A shard counts its own sessions as any object does, and **reports** its tallies (site,
//!   rooms, the rooms its sockets view) to the coordinator: at once after a quiet interval, then
//!   at most once per broadcast interval while they change, and every [`KEEPALIVE_MS`] while it
//!   holds anything. Never per ping.
//! - The coordinator adds its own tallies to the latest report of each shard: those are the
//!   site's **totals** (its answers to `/v1/count` and `/v1/rooms`, its history). A report not
//!   renewed within [`REPORT_TTL_MS`] stops counting: a shard that is gone cannot count forever.
//! - The coordinator **pushes** the totals back to every shard with sockets when they change (at
//!   most once per interval per shard); a report's answer carries them too. A shard shows its
//!   sockets the pushed totals corrected by its own changes since, so its own joins show at once.
//! - Entities live on the coordinator: a shard forwards its entity sessions' starts, ends and
//!   last signs of life with its reports (a full list after either side restarted).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::entities::Entities;
use super::types::{Counts, Millis, RoomCounts};

/// A shard that holds anything reports at least this often.
pub const KEEPALIVE_MS: Millis = 10_000;
/// A shard's report stops counting when it is not renewed within this time.
pub const REPORT_TTL_MS: Millis = 3 * KEEPALIVE_MS;
/// After a failed report, the next try waits this long.
pub const RETRY_MS: Millis = 1_000;
/// A report not answered within this time counts as failed.
pub const REPORT_TIMEOUT_MS: Millis = 5_000;

/// An entity session's change on a shard, applied by the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum EntityEvent {
    /// A session of `entity` began, moved, went away or came back, or carries new info.
    Start {
        entity: String,
        session: String,
        room: String,
        visible: bool,
        info: Option<String>,
        at: Millis,
    },
    /// A session of `entity` ended at `at`; its last sign of life was `last_seen`.
    End {
        entity: String,
        session: String,
        at: Millis,
        last_seen: Millis,
    },
    /// The latest sign of life of one of the entity's sessions.
    Seen { entity: String, at: Millis },
}

/// What a shard tells the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub shard: u32,
    /// The shard's tallies.
    pub site: Counts,
    pub rooms: Vec<RoomCounts>,
    /// The rooms its sockets view (the coordinator pushes their totals).
    pub views: Vec<String>,
    pub sockets: u32,
    /// Anonymous counts of the rooms the coordinator asked about (for members).
    pub anonymous: Vec<RoomCounts>,
    /// Entity session changes since the last report, in order.
    pub entities: Vec<EntityEvent>,
    /// `entities` lists every entity session of the shard (after a restart of either side):
    /// the coordinator replaces what it knew of this shard's entity sessions.
    pub snapshot: bool,
    /// The version of the site's named rooms the shard holds (0: none; see `slots.rs`).
    #[serde(default)]
    pub slots: u64,
}

/// What the coordinator tells a shard (the answer to a report, or a push).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// The coordinator's instance: a new one asks the shard for a full entity snapshot.
    pub instance: u64,
    pub site: Counts,
    /// The totals of the rooms the shard views.
    pub rooms: Vec<RoomCounts>,
    /// Rooms whose members someone follows: shards report their anonymous counts.
    pub members_rooms: Vec<String>,
    /// The site's rooms are past `MAX_ROOMS`: the version of its named rooms (0: not full).
    #[serde(default)]
    pub slots: u64,
    /// The named rooms, when the shard holds another version than `slots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named: Option<Vec<String>>,
}

// ----- the shard side -----

/// Where the entity changes of sessions go: to the entities kept here (the coordinator, and any
/// unsharded object), or into the next report to the coordinator (a shard).
#[derive(Debug)]
pub struct EntityLink {
    pub local: Entities,
    forward: bool,
    /// Changes not yet reported (a shard), in order.
    outbox: Vec<EntityEvent>,
    /// Signs of life not yet reported (the latest per entity).
    seen: HashMap<Rc<str>, Millis>,
}

impl EntityLink {
    pub fn new(local: Entities, forward: bool) -> Self {
        EntityLink {
            local,
            forward,
            outbox: Vec::new(),
            seen: HashMap::new(),
        }
    }

    pub fn forwards(&self) -> bool {
        self.forward
    }

    pub fn set_forward(&mut self, forward: bool) {
        self.forward = forward;
    }

    pub fn name(&self, entity: &str) -> Rc<str> {
        self.local.name(entity)
    }

    pub fn session_started(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Rc<str>>,
        now: Millis,
    ) {
        if self.forward {
            self.outbox.push(EntityEvent::Start {
                entity: entity.to_string(),
                session: session.to_string(),
                room: room.to_string(),
                visible,
                info: info.as_deref().map(str::to_owned),
                at: now,
            });
        } else {
            self.local
                .session_started(entity, session, room, visible, info, now);
        }
    }

    pub fn session_ended(&mut self, entity: &str, session: &str, now: Millis, last_seen: Millis) {
        if self.forward {
            self.outbox.push(EntityEvent::End {
                entity: entity.to_owned(),
                session: session.to_owned(),
                at: now,
                last_seen,
            });
        } else {
            self.local.session_ended(entity, session, now, last_seen);
        }
    }

    /// A session of `entity` came back from storage after a restart (see
    /// [`Entities::session_restored`]); a shard reports it as started.
    #[allow(clippy::too_many_arguments)]
    pub fn session_restored(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Rc<str>>,
        last_seen: Millis,
        online_since: Millis,
        now: Millis,
    ) {
        if self.forward {
            self.session_started(entity, session, room, visible, info, now);
        } else {
            self.local.session_restored(
                entity,
                session,
                room,
                visible,
                info,
                last_seen,
                online_since,
                now,
            );
        }
    }

    pub fn seen(&mut self, entity: &Rc<str>, at: Millis) {
        if self.forward {
            let t = self.seen.entry(entity.clone()).or_insert(at);
            *t = (*t).max(at);
        } else {
            self.local.seen(entity, at);
        }
    }

    /// Whether changes wait to be reported.
    pub fn has_news(&self) -> bool {
        !self.outbox.is_empty() || !self.seen.is_empty()
    }

    /// The changes to report, in order, the signs of life last.
    pub fn take_news(&mut self) -> Vec<EntityEvent> {
        let mut out = std::mem::take(&mut self.outbox);
        out.extend(self.seen.drain().map(|(entity, at)| EntityEvent::Seen {
            entity: entity.to_string(),
            at,
        }));
        out
    }

    /// Changes of a report that failed go again, before any made since.
    pub fn put_back(&mut self, mut lost: Vec<EntityEvent>) {
        lost.append(&mut self.outbox);
        self.outbox = lost;
    }

    /// Drops what waits (a snapshot replaces it).
    pub fn clear_news(&mut self) {
        self.outbox.clear();
        self.seen.clear();
    }
}

/// The shard's reporting state.
#[derive(Debug)]
pub struct Reporter {
    pub shard: u32,
    interval: Millis,
    /// Something to report.
    dirty: bool,
    in_flight: bool,
    last_sent_at: Option<Millis>,
    /// Not before this (throttle or retry).
    next_at: Millis,
    /// The next report must carry every entity session.
    snapshot_due: bool,
    /// The last report said the shard holds nothing; a further empty one is not needed.
    reported_empty: bool,
    /// The entity changes of the report in flight (they go again if it fails).
    sent_events: Vec<EntityEvent>,
    sent_snapshot: bool,
    /// The totals last received, and the tallies they were computed with.
    pub totals: Option<Totals>,
    basis: Option<(Counts, HashMap<String, Counts>)>,
    /// Tallies in the report in flight (they become the basis when answered).
    sent: Option<(Counts, HashMap<String, Counts>)>,
    /// The coordinator instance seen last.
    coordinator: Option<u64>,
}

impl Reporter {
    pub fn new(shard: u32, interval: Millis) -> Self {
        Reporter {
            shard,
            interval,
            dirty: true,
            in_flight: false,
            last_sent_at: None,
            next_at: 0,
            snapshot_due: true,
            reported_empty: false,
            sent_events: Vec::new(),
            sent_snapshot: false,
            totals: None,
            basis: None,
            sent: None,
            coordinator: None,
        }
    }

    /// Something changed that the coordinator must hear of.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// When a report is due: a change after a quiet interval at once, then one per interval;
    /// a keepalive while the shard holds anything.
    pub fn due_at(&self, holds_anything: bool, has_news: bool) -> Option<Millis> {
        if self.in_flight {
            // woken then to count it as failed
            return self.last_sent_at.map(|t| t + REPORT_TIMEOUT_MS);
        }
        let change = self.dirty || has_news || self.snapshot_due;
        if change && (holds_anything || !self.reported_empty || has_news) {
            return Some(self.next_at);
        }
        if holds_anything {
            return Some(
                self.last_sent_at
                    .map_or(0, |t| t + KEEPALIVE_MS)
                    .max(self.next_at),
            );
        }
        None
    }

    /// Builds the report (its parts from the caller) and marks it in flight.
    #[allow(clippy::too_many_arguments)]
    pub fn take_report(
        &mut self,
        now: Millis,
        site: Counts,
        rooms: Vec<RoomCounts>,
        views: Vec<String>,
        sockets: u32,
        anonymous: Vec<RoomCounts>,
        entities: Vec<EntityEvent>,
        snapshot: bool,
    ) -> Report {
        self.sent = Some((
            site,
            rooms
                .iter()
                .map(|r| {
                    (
                        r.room.clone(),
                        Counts {
                            sessions: r.sessions,
                            visitors: r.visitors,
                        },
                    )
                })
                .collect(),
        ));
        self.reported_empty = site.sessions == 0 && sockets == 0;
        self.dirty = false;
        self.in_flight = true;
        self.last_sent_at = Some(now);
        self.next_at = now + self.interval;
        self.sent_events = entities.clone();
        self.sent_snapshot = snapshot;
        if snapshot {
            self.snapshot_due = false;
        }
        Report {
            shard: self.shard,
            site,
            rooms,
            views,
            sockets,
            anonymous,
            entities,
            snapshot,
            slots: 0,
        }
    }

    /// A report in flight for too long: answers the entity changes to report again.
    pub fn time_out(&mut self, now: Millis) -> Option<Vec<EntityEvent>> {
        let sent = self.last_sent_at?;
        (self.in_flight && now >= sent + REPORT_TIMEOUT_MS).then(|| self.answered(now, None))
    }

    /// Whether the next report must carry every entity session.
    pub fn snapshot_due(&self) -> bool {
        self.snapshot_due
    }

    /// The report in flight was answered (`Some`) or failed (`None`): answers the entity changes
    /// to report again.
    pub fn answered(&mut self, now: Millis, totals: Option<Totals>) -> Vec<EntityEvent> {
        self.in_flight = false;
        let lost = std::mem::take(&mut self.sent_events);
        match totals {
            Some(t) => {
                self.basis = self.sent.take();
                self.received(t);
                Vec::new()
            }
            None => {
                self.dirty = true;
                self.next_at = now + RETRY_MS;
                if self.sent_snapshot {
                    self.snapshot_due = true;
                    Vec::new()
                } else {
                    lost
                }
            }
        }
    }

    /// Totals pushed by (or answered from) the coordinator.
    pub fn received(&mut self, t: Totals) {
        if self.coordinator != Some(t.instance) {
            // a new coordinator instance knows none of our entity sessions yet
            if self.coordinator.is_some() {
                self.snapshot_due = true;
                self.dirty = true;
                self.next_at = 0;
            }
            self.coordinator = Some(t.instance);
        }
        self.totals = Some(t);
    }

    /// What a socket of this shard shows: the last totals, corrected by this shard's own
    /// changes since the report they include; this shard's own tallies until totals arrive.
    pub fn view(
        &self,
        local_site: Counts,
        local_room: impl Fn(&str) -> Counts,
        room: Option<&str>,
    ) -> (Counts, Option<Counts>) {
        let adjust = |global: Counts, basis: Counts, local: Counts| Counts {
            sessions: (global.sessions + local.sessions).saturating_sub(basis.sessions),
            visitors: (global.visitors + local.visitors).saturating_sub(basis.visitors),
        };
        let Some(t) = &self.totals else {
            return (local_site, room.map(local_room));
        };
        let (basis_site, basis_rooms) = match &self.basis {
            Some((s, r)) => (*s, Some(r)),
            None => (Counts::default(), None),
        };
        let site = adjust(t.site, basis_site, local_site);
        let room = room.map(|r| {
            let global = t
                .rooms
                .iter()
                .find(|x| x.room == r)
                .map(counts_of)
                .unwrap_or_default();
            let basis = basis_rooms
                .and_then(|b| b.get(r).copied())
                .unwrap_or_default();
            adjust(global, basis, local_room(r))
        });
        (site, room)
    }
}

// ----- the coordinator side -----

#[derive(Clone, Debug)]
struct Held {
    report: Report,
    at: Millis,
}

/// The latest report of each shard, and what each was last pushed.
#[derive(Debug, Default)]
pub struct Aggregator {
    reports: HashMap<u32, Held>,
    /// The sums of the reports, kept up to date on every receive and expiry.
    site_sum: Counts,
    room_sums: HashMap<String, Counts>,
    /// The totals each shard was last sent, and when.
    pushed: HashMap<u32, (Totals, Millis)>,
    /// Shards that asked to hear from this instance (a hello after a restart).
    hello: HashSet<u32>,
}

impl Aggregator {
    /// Keeps a shard's report; answers whether the totals changed, and whether its anonymous
    /// counts did.
    pub fn receive(&mut self, now: Millis, mut report: Report) -> (bool, bool) {
        report.entities.clear();
        let old = self.reports.get(&report.shard);
        let changed =
            old.is_none_or(|h| h.report.site != report.site || h.report.rooms != report.rooms);
        let anonymous = old.is_none_or(|h| h.report.anonymous != report.anonymous);
        self.reports.insert(report.shard, Held { report, at: now });
        if changed {
            self.sum();
        }
        (changed, anonymous)
    }

    fn sum(&mut self) {
        self.site_sum = Counts::default();
        self.room_sums.clear();
        for h in self.reports.values() {
            self.site_sum = add(self.site_sum, h.report.site);
            for r in &h.report.rooms {
                let e = self.room_sums.entry(r.room.clone()).or_default();
                *e = add(*e, counts_of(r));
            }
        }
    }

    /// Drops the reports not renewed in time; answers whether any counted.
    pub fn expire(&mut self, now: Millis) -> bool {
        let before = self.reports.len();
        self.reports.retain(|_, h| h.at + REPORT_TTL_MS > now);
        let changed = before != self.reports.len();
        if changed {
            self.sum();
        }
        changed
    }

    /// When the earliest report runs out.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.reports.values().map(|h| h.at + REPORT_TTL_MS).min()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// The shards' part of the site's counts.
    pub fn site(&self) -> Counts {
        self.site_sum
    }

    /// The shards' part of a room's counts.
    pub fn room(&self, room: &str) -> Counts {
        self.room_sums.get(room).copied().unwrap_or_default()
    }

    /// The shards' part of each room's counts.
    pub fn rooms(&self) -> &HashMap<String, Counts> {
        &self.room_sums
    }

    /// The shards' anonymous counts of `room` (those that reported it).
    pub fn anonymous(&self, room: &str) -> Counts {
        self.reports
            .values()
            .flat_map(|h| h.report.anonymous.iter())
            .filter(|r| r.room == room)
            .fold(Counts::default(), |a, r| add(a, counts_of(r)))
    }

    /// The version of the site's named rooms shard `shard` said it holds.
    pub fn slots_held(&self, shard: u32) -> u64 {
        self.reports.get(&shard).map_or(0, |h| h.report.slots)
    }

    /// The shards to send totals to, with the rooms each views.
    pub fn viewers(&self) -> Vec<(u32, Vec<String>)> {
        let mut out: Vec<(u32, Vec<String>)> = self
            .reports
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
            if !self.reports.contains_key(s) {
                out.push((*s, Vec::new()));
            }
        }
        out.sort_by_key(|(s, _)| *s);
        out
    }

    /// Greets shards 1..k after this instance started, so they report in full.
    pub fn greet(&mut self, k: u32) {
        self.hello.extend(1..k);
    }

    /// The pushes due at `now`, from the totals each viewer would get now (`totals`): a shard
    /// whose totals changed, at most once per `interval`; a greeted shard at once.
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
}

pub(crate) fn add(a: Counts, b: Counts) -> Counts {
    Counts {
        sessions: a.sessions + b.sessions,
        visitors: a.visitors + b.visitors,
    }
}

fn counts_of(r: &RoomCounts) -> Counts {
    Counts {
        sessions: r.sessions,
        visitors: r.visitors,
    }
}

/// Which of `k` objects holds the sessions of this visitor (or of this session, when it has no
/// visitor): FNV-1a of the id. Stable across Workers and deploys; not a secret.
pub fn place(k: u32, visitor_or_session: &str) -> u32 {
    if k <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in visitor_or_session.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(k)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: u32, v: u32) -> Counts {
        Counts {
            sessions: s,
            visitors: v,
        }
    }

    fn report(shard: u32, site: Counts, rooms: &[(&str, Counts)]) -> Report {
        Report {
            shard,
            site,
            rooms: rooms.iter().map(|(r, c)| RoomCounts::new(r, *c)).collect(),
            views: vec![],
            sockets: 1,
            anonymous: vec![],
            entities: vec![],
            snapshot: false,
            slots: 0,
        }
    }

    #[test]
    fn placement_is_stable_and_spread() {
        assert_eq!(place(1, "v_anything"), 0);
        let mut hits = [0u32; 4];
        for i in 0..4000 {
            let s = place(4, &format!("v_{i:08}"));
            assert_eq!(s, place(4, &format!("v_{i:08}")));
            hits[s as usize] += 1;
        }
        assert!(hits.iter().all(|h| (800..1200).contains(h)), "{hits:?}");
    }

    #[test]
    fn totals_add_the_shards_and_a_silent_shard_stops_counting() {
        let mut a = Aggregator::default();
        assert!(a.receive(0, report(1, c(3, 2), &[("/", c(3, 2))])).0);
        assert!(
            a.receive(100, report(2, c(5, 5), &[("/", c(1, 1)), ("/x", c(4, 4))]))
                .0
        );
        assert!(
            !a.receive(200, report(1, c(3, 2), &[("/", c(3, 2))])).0,
            "same numbers"
        );
        assert_eq!(a.site(), c(8, 7));
        assert_eq!((a.room("/"), a.room("/x")), (c(4, 3), c(4, 4)));
        assert_eq!(a.next_expiry(), Some(100 + REPORT_TTL_MS));
        assert!(a.expire(100 + REPORT_TTL_MS));
        assert_eq!(
            a.site(),
            c(3, 2),
            "shard 2's report ran out; shard 1 renewed at 200"
        );
    }

    #[test]
    fn pushes_go_to_shards_with_sockets_when_totals_change_throttled() {
        let mut a = Aggregator::default();
        a.receive(0, report(1, c(1, 1), &[]));
        let mut quiet = report(2, c(0, 0), &[]);
        quiet.sockets = 0;
        a.receive(0, quiet);
        let totals = |a: &Aggregator, n: u32| -> Vec<(u32, Totals)> {
            a.viewers()
                .into_iter()
                .map(|(s, _)| {
                    (
                        s,
                        Totals {
                            instance: 1,
                            site: c(n, n),
                            ..Totals::default()
                        },
                    )
                })
                .collect()
        };
        let (p, _) = a.pushes(0, 500, totals(&a, 2));
        assert_eq!(
            p.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1],
            "only shards with sockets or sessions"
        );
        let (p, _) = a.pushes(100, 500, totals(&a, 2));
        assert!(p.is_empty(), "nothing changed");
        let (p, pending) = a.pushes(200, 500, totals(&a, 3));
        assert!(p.is_empty());
        assert_eq!(pending, Some(500), "inside the interval: when it ends");
        let t = totals(&a, 3);
        assert_eq!(a.pushes(500, 500, t).0.len(), 1);
        a.greet(3);
        let t = totals(&a, 3);
        let (p, _) = a.pushes(600, 500, t);
        assert_eq!(
            p.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2],
            "a hello reaches every shard"
        );
    }

    #[test]
    fn a_shard_reports_at_once_then_once_per_interval_and_keeps_alive() {
        let mut r = Reporter::new(1, 500);
        assert_eq!(r.due_at(true, false), Some(0), "the first report at once");
        r.take_report(0, c(1, 1), vec![], vec![], 0, vec![], vec![], true);
        assert_eq!(
            r.due_at(true, false),
            Some(REPORT_TIMEOUT_MS),
            "one in flight, until it times out"
        );
        r.answered(10, Some(Totals::default()));
        assert_eq!(r.due_at(true, false), Some(KEEPALIVE_MS), "keepalive");
        r.mark();
        assert_eq!(
            r.due_at(true, false),
            Some(500),
            "a change inside the interval waits for it"
        );
        let start = EntityEvent::Seen {
            entity: "u".into(),
            at: 1,
        };
        r.take_report(
            600,
            c(2, 2),
            vec![],
            vec![],
            0,
            vec![],
            vec![start.clone()],
            false,
        );
        assert_eq!(
            r.answered(610, None),
            vec![start],
            "its entity changes go again"
        );
        assert_eq!(
            r.due_at(true, false),
            Some(610 + RETRY_MS),
            "a failed report is tried again"
        );
        r.take_report(2000, c(0, 0), vec![], vec![], 0, vec![], vec![], false);
        r.answered(2010, Some(Totals::default()));
        assert_eq!(
            r.due_at(false, false),
            None,
            "an empty shard said so once and stays quiet"
        );
    }

    #[test]
    fn a_shard_shows_the_totals_corrected_by_its_own_changes_since() {
        let mut r = Reporter::new(1, 500);
        r.take_report(
            0,
            c(2, 2),
            vec![RoomCounts::new("/", c(2, 2))],
            vec![],
            1,
            vec![],
            vec![],
            true,
        );
        let totals = Totals {
            instance: 7,
            site: c(10, 9),
            rooms: vec![RoomCounts::new("/", c(6, 5))],
            members_rooms: vec![],
            ..Totals::default()
        };
        r.answered(5, Some(totals));
        // one more local join since the report
        let (site, room) = r.view(c(3, 3), |_| c(3, 3), Some("/"));
        assert_eq!((site, room), (c(11, 10), Some(c(7, 6))));
        // a new coordinator instance asks for a snapshot
        r.received(Totals {
            instance: 8,
            ..Totals::default()
        });
        assert!(r.snapshot_due());
    }
}
