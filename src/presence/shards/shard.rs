//! The shard side: produces reports for the coordinator, applies its answers and pushes.
//!
//! A shard counts its own sessions as any object does, and **reports** its tallies (site, rooms,
//! the rooms its sockets view) and its entity sessions' changes to the coordinator: at once
//! after a quiet interval, then at most once per broadcast interval while they change, and every
//! [`KEEPALIVE_MS`] while it holds anything. Never per ping. Its sockets show the coordinator's
//! last totals corrected by its own changes since, so its own joins show at once.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::broadcast::View;
use super::super::local::Local;
use super::super::slots::RoomSlots;
use super::super::types::{Counts, Millis, RoomCounts};
use super::protocol::{EntityEvent, Report, ReportRoom, Totals};
use super::{add, counts_of};

/// A shard that holds anything reports at least this often.
pub const KEEPALIVE_MS: Millis = 10_000;
/// After a failed report, the next try waits this long.
pub const RETRY_MS: Millis = 1_000;
/// A report not answered within this time counts as failed.
pub const REPORT_TIMEOUT_MS: Millis = 5_000;

/// Tallies as a report carried them: the site's and each room's.
type Basis = (Counts, HashMap<String, Counts>);

/// One shard of a site (objects 1..K).
#[derive(Debug)]
pub(crate) struct Shard {
    index: u32,
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
    /// Entity changes not yet reported, in order; signs of life apart (the latest per entity).
    outbox: Vec<EntityEvent>,
    seen: HashMap<Rc<str>, Millis>,
    /// The entity changes of the report in flight (they go again if it fails).
    sent_events: Vec<EntityEvent>,
    sent_snapshot: bool,
    /// The totals last received, and the tallies they were computed with.
    totals: Option<Totals>,
    basis: Option<Basis>,
    /// Tallies in the report in flight (they become the basis when answered).
    sent: Option<Basis>,
    /// The coordinator instance seen last.
    coordinator: Option<u64>,
    /// The site's named rooms, as the coordinator said.
    slots: RoomSlots,
    slots_changed: bool,
}

impl Shard {
    pub fn new(index: u32, interval: Millis, max_rooms: usize) -> Self {
        Shard {
            index,
            interval,
            dirty: true,
            in_flight: false,
            last_sent_at: None,
            next_at: 0,
            snapshot_due: true,
            reported_empty: false,
            outbox: Vec::new(),
            seen: HashMap::new(),
            sent_events: Vec::new(),
            sent_snapshot: false,
            totals: None,
            basis: None,
            sent: None,
            coordinator: None,
            slots: RoomSlots::new(max_rooms),
            slots_changed: false,
        }
    }

    /// The site's room slots as this shard knows them.
    pub fn slots(&self) -> &RoomSlots {
        &self.slots
    }

    /// Whether the coordinator's last totals changed the named rooms (the caller's tallies
    /// follow them); cleared by the call.
    pub fn take_slots_changed(&mut self) -> bool {
        std::mem::take(&mut self.slots_changed)
    }

    /// Something changed that the coordinator must hear of.
    pub fn mark(&mut self) {
        self.dirty = true;
    }

    /// An entity session changed here: it goes with the next report.
    pub fn forward(&mut self, event: EntityEvent) {
        match event {
            EntityEvent::Seen { entity, at } => {
                let t = self.seen.entry(entity).or_insert(at);
                *t = (*t).max(at);
            }
            EntityEvent::Restored {
                entity,
                session,
                room,
                visible,
                info,
                at,
                ..
            } => self.outbox.push(EntityEvent::Start {
                entity,
                session,
                room,
                visible,
                info,
                at,
            }),
            other => self.outbox.push(other),
        }
    }

    fn has_news(&self) -> bool {
        !self.outbox.is_empty() || !self.seen.is_empty()
    }

    /// When a report is due: a change after a quiet interval at once, then one per interval;
    /// a keepalive while the shard holds anything.
    pub fn due_at(&self, holds_anything: bool) -> Option<Millis> {
        if self.in_flight {
            // woken then to count it as failed
            return self.last_sent_at.map(|t| t + REPORT_TIMEOUT_MS);
        }
        let news = self.has_news();
        let change = self.dirty || news || self.snapshot_due;
        if change && (holds_anything || !self.reported_empty || news) {
            return Some(self.next_at);
        }
        if holds_anything {
            let keepalive = self.last_sent_at.map_or(0, |t| t + KEEPALIVE_MS);
            return Some(keepalive.max(self.next_at));
        }
        None
    }

    /// The report due at `now`, if any (it is then in flight until answered or timed out).
    pub fn poll(&mut self, now: Millis, local: &Local) -> Option<Report> {
        if self.in_flight
            && self
                .last_sent_at
                .is_some_and(|t| now >= t + REPORT_TIMEOUT_MS)
        {
            self.answered(now, None);
        }
        if self.due_at(local.holds_anything()).is_none_or(|t| t > now) {
            return None;
        }
        let snapshot = self.snapshot_due;
        let entities = if snapshot {
            self.outbox.clear();
            self.seen.clear();
            local.entity_snapshot(now)
        } else {
            self.take_news()
        };
        Some(self.report(now, local, entities, snapshot))
    }

    /// The changes to report, in order, the signs of life last.
    fn take_news(&mut self) -> Vec<EntityEvent> {
        let mut out = std::mem::take(&mut self.outbox);
        out.extend(
            self.seen
                .drain()
                .map(|(entity, at)| EntityEvent::Seen { entity, at }),
        );
        out
    }

    /// Builds the report and marks it in flight.
    fn report(
        &mut self,
        now: Millis,
        local: &Local,
        entities: Vec<EntityEvent>,
        snapshot: bool,
    ) -> Report {
        let (site, shown) = (local.site(), local.rooms());
        let members_rooms = self.totals.as_ref().map(|t| &t.members_rooms);
        let anonymous = members_rooms
            .into_iter()
            .flatten()
            .map(|r| RoomCounts::new(r, local.anonymous_in(r)))
            .collect();
        let sockets = local.socket_count() as u32;
        // what the coordinator's totals will include of this shard: its rooms as it shows them
        let basis = shown
            .iter()
            .map(|r| (r.room.clone(), counts_of(r)))
            .collect();
        self.sent = Some((site, basis));
        let rooms = local
            .room_stats()
            .into_iter()
            .map(|(room, s)| ReportRoom {
                room,
                sessions: s.counts.sessions,
                visitors: s.counts.visitors,
                addresses: s.addresses,
                since: s.since,
            })
            .collect();
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
            shard: self.index,
            site,
            rooms,
            other: local.other(),
            views: local.viewed_rooms(),
            sockets,
            anonymous,
            entities,
            snapshot,
            slots: self.slots.version(),
        }
    }

    /// The report in flight was answered (`Some`) or failed (`None`).
    pub fn answered(&mut self, now: Millis, totals: Option<Totals>) {
        self.in_flight = false;
        let lost = std::mem::take(&mut self.sent_events);
        match totals {
            Some(t) => {
                self.basis = self.sent.take();
                self.pushed(t);
            }
            None => {
                self.dirty = true;
                self.next_at = now + RETRY_MS;
                if self.sent_snapshot {
                    self.snapshot_due = true;
                } else {
                    // its changes go again, before any made since
                    let since = std::mem::replace(&mut self.outbox, lost);
                    self.outbox.extend(since);
                }
            }
        }
    }

    /// Totals pushed by (or answered from) the coordinator.
    pub fn pushed(&mut self, mut t: Totals) {
        let before = (self.slots.version(), self.slots.is_full());
        self.slots.learn(t.slots, t.named.take());
        self.slots_changed |= before != (self.slots.version(), self.slots.is_full());
        if self.coordinator != Some(t.instance) {
            // a new coordinator instance knows none of our entity sessions yet
            if self.coordinator.is_some() {
                self.snapshot_due = true;
                self.dirty = true;
                self.next_at = 0;
            }
            self.coordinator = Some(t.instance);
        }
        // rooms whose members are newly followed: their anonymous counts go with a report
        let members_before = self.totals.as_ref().map(|old| &old.members_rooms);
        if members_before.is_some_and(|m| *m != t.members_rooms)
            || (members_before.is_none() && !t.members_rooms.is_empty())
        {
            self.dirty = true;
        }
        self.totals = Some(t);
    }

    /// What a socket of this shard shows: the last totals, corrected by this shard's own
    /// changes since the report they include; this shard's own tallies until totals arrive.
    pub fn view(&self, local: &Local, room: Option<&str>) -> View {
        let Some(t) = &self.totals else {
            return View {
                site: local.site(),
                room: room.map(|r| local.room(r)),
            };
        };
        let (basis_site, basis_rooms) = match &self.basis {
            Some((s, r)) => (*s, Some(r)),
            None => (Counts::default(), None),
        };
        let room = room.map(|r| {
            let global = t.rooms.iter().find(|x| x.room == r).map(counts_of);
            let basis = basis_rooms.and_then(|b| b.get(r).copied());
            adjust(
                global.unwrap_or_default(),
                basis.unwrap_or_default(),
                local.room(r),
            )
        });
        View {
            site: adjust(t.site, basis_site, local.site()),
            room,
        }
    }
}

/// The coordinator's `global` counts with this shard's part moved from `basis` to `local`.
fn adjust(global: Counts, basis: Counts, local: Counts) -> Counts {
    let sum = add(global, local);
    Counts {
        sessions: sum.sessions.saturating_sub(basis.sessions),
        visitors: sum.visitors.saturating_sub(basis.visitors),
    }
}
