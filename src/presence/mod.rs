//! The presence core: who is live in which room of one site, and what should happen next.
//!
//! No I/O and no `worker::` types. Every input takes the time as an argument (epoch
//! milliseconds); after any input the edge calls [`Presence::poll`], which answers one
//! [`Effects`] value: the rows to write, the messages to send (the first snapshot of a new
//! socket, throttled count messages, entity status changes, pongs), the sockets to close, and
//! when to wake the core again ([`Presence::alarm`]). The Durable Object only carries these out.
//!
//! The state is split into small parts, each in its own file:
//! - `sessions`: live sessions and their HTTP holds (where an HTTP session expires);
//! - `sockets`: open sockets by view, by watched entity and by silence deadline;
//! - `counts`: the site and room tallies (sessions, distinct visitors, the overflow room);
//! - `broadcast`: the throttle (where a count goes out);
//! - `entities`: entity status (online, away, offline), the grace, last-seen times, members;
//! - `restore`: rebuilding all of it after a restart;
//! - `deadlines`: the one timer queue they all use; `effects`: what the edge must do.
//!
//! A **session** is live while an HTTP hold has not expired (a join or heartbeat gives it
//! `ttl`) or while at least one socket carries it. A **socket** is either a session carrier
//! (`/v1/live?session=..`) or a plain subscriber; both receive count messages for their view
//! (the site, plus the room they named).

mod broadcast;
mod counts;
mod deadlines;
pub mod effects;
pub mod entities;
pub mod history;
mod restore;
mod sessions;
pub mod shards;
mod slots;
mod sockets;
pub mod types;
pub mod webhooks;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::rc::Rc;

use broadcast::{MembersThrottle, Sent, Throttle, View};
use counts::Tallies;
use entities::Entities;
use history::{History, MinuteRow};
use sessions::{HoldUntil, Session, Sessions};
use shards::{Aggregator, EntityEvent, EntityLink, Report, Reporter, Totals};
use slots::RoomSlots;
use sockets::{Socket, Sockets};

pub use effects::{Close, Effects, Message, Send, Timing, Write};
pub use entities::{pattern_allows, EntityRecord, EntityStatus, Member, State, Transition};
pub use types::*;
pub use webhooks::{Delivery, Events as WebhookEvents, Outcome, QueueChange, Webhooks};

/// Why the core closes a socket that fell silent.
const SILENT_REASON: &str = "silent for longer than the ttl";

/// What a session should become, from a ping or a socket.
#[derive(Clone, Copy, Debug)]
struct Want<'a> {
    room: &'a str,
    visitor: VisitorKey,
    /// `None` keeps the entity the session carries.
    entity: Option<&'a str>,
    /// `None` keeps the info the session carries.
    info: Option<&'a str>,
    visibility: Visibility,
}

/// The presence of one site.
#[derive(Debug)]
pub struct Presence {
    cfg: Config,
    sessions: Sessions,
    tallies: Tallies,
    sockets: Sockets,
    throttle: Throttle,
    members: MembersThrottle,
    entities: EntityLink,
    webhooks: Webhooks,
    history: History,
    /// A shard: its reports to the coordinator.
    reporter: Option<Reporter>,
    /// The coordinator: the shards' reports.
    aggregator: Aggregator,
    /// `MAX_ROOMS` over the site: kept by the coordinator, learned by the shards.
    slots: RoomSlots,
    /// The coordinator: the site's rooms may have changed since the slots were last updated.
    slots_stale: bool,
    /// This instance, for the shards to tell a restart (set by the edge).
    instance: u64,
    /// The coordinator: when a throttled push falls due.
    push_wake: Option<Millis>,
    /// What inputs asked for since the last [`Presence::poll`].
    out: Effects,
}

impl Presence {
    pub fn new(cfg: Config) -> Self {
        Presence {
            cfg,
            sessions: Sessions::default(),
            tallies: Tallies::new(cfg.limits.max_rooms),
            sockets: Sockets::default(),
            throttle: Throttle::new(cfg.broadcast_interval_ms),
            members: MembersThrottle::default(),
            entities: EntityLink::new(Entities::new(cfg.leave_grace_ms), cfg.shard > 0),
            webhooks: Webhooks::default(),
            history: History::default(),
            reporter: (cfg.shard > 0).then(|| Reporter::new(cfg.shard, cfg.broadcast_interval_ms)),
            aggregator: Aggregator::default(),
            slots: RoomSlots::new(cfg.limits.max_rooms),
            slots_stale: false,
            instance: 0,
            push_wake: None,
            out: Effects::default(),
        }
    }

    pub fn config(&self) -> Config {
        self.cfg
    }

    // ----- reading -----

    /// What a socket viewing `room` (or the site alone) shows now.
    fn view(&self, room: Option<&str>) -> View {
        view_of(
            &self.tallies,
            &self.aggregator,
            &self.slots,
            self.reporter.as_ref(),
            room,
        )
    }

    /// The site's counts: over every object of a sharded site (see `shards.rs`).
    pub fn site_counts(&self) -> Counts {
        self.view(None).site
    }

    /// A room's counts: over every object of a sharded site.
    pub fn room_counts(&self, room: &str) -> RoomCounts {
        RoomCounts::new(room, self.view(Some(room)).room.unwrap_or_default())
    }

    /// This object's own counts (for a shard, its share of the site).
    pub fn local_counts(&self) -> Counts {
        self.tallies.site()
    }

    pub fn snapshot(&self, room: Option<&str>) -> Snapshot {
        Snapshot {
            site: self.site_counts(),
            room: room.map(|r| self.room_counts(r)),
        }
    }

    /// The busiest rooms first (by sessions, then visitors, then name), at most `limit`: over
    /// every object of a sharded site (the coordinator merges its shards' reports).
    pub fn top_rooms(&self, limit: usize) -> Vec<RoomCounts> {
        if self.aggregator.is_empty() && !self.slots.is_full() {
            return self.tallies.top(limit);
        }
        let all = self
            .slots
            .fold(merged_rooms(&self.tallies, &self.aggregator));
        counts::top_of(all.iter().map(|(r, c)| (r.as_str(), *c)).collect(), limit)
    }

    /// Number of rooms with at least one counted session.
    pub fn room_count(&self) -> usize {
        self.tallies.room_count()
    }

    /// Number of open sockets (carriers and subscribers).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Number of live sessions, away ones included.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_live(&self, session: &str) -> bool {
        self.sessions.contains(session)
    }

    /// The room a live session is counted in.
    pub fn session_room(&self, session: &str) -> Option<&str> {
        self.sessions.get(session).map(|s| &*s.room)
    }

    /// Whether a live session is away.
    pub fn is_away(&self, session: &str) -> bool {
        self.sessions.get(session).is_some_and(|s| s.away)
    }

    /// The status of an entity online, away or in its grace; `None` when offline (the rest
    /// is then in storage).
    pub fn entity_status(&self, entity: &str) -> Option<EntityStatus> {
        self.entities.local.status(entity)
    }

    /// The status of each entity: from memory when online, away or in its grace, else offline
    /// with what storage holds (`stored`).
    pub fn statuses(
        &self,
        entities: &[String],
        mut stored: impl FnMut(&str) -> StoredEntity,
    ) -> Vec<(String, EntityStatus)> {
        entities
            .iter()
            .map(|e| {
                let status = self.entities.local.status(e).unwrap_or_else(|| {
                    let s = stored(e);
                    EntityStatus::offline(s.last_seen, s.info.map(Rc::from))
                });
                (e.clone(), status)
            })
            .collect()
    }

    /// The members of `room` (at most [`MAX_MEMBERS`], earliest online first), whether the
    /// list was cut, and the sessions in it without an entity.
    pub fn members(&self, room: &str) -> (Vec<Member>, bool, Counts) {
        let (members, truncated) = self.entities.local.members(room, MAX_MEMBERS);
        (members, truncated, anonymous_in(&self.sessions, room))
    }

    fn members_message(&self, room: &str) -> Message {
        members_message(&self.entities, &self.sessions, room)
    }

    // ----- inputs: HTTP pings -----

    /// Applies a ping and answers the counts of the site and of the ping's room (or of the
    /// overflow group the session is counted in, with `grouped_as`).
    pub fn ping(&mut self, now: Millis, p: Ping<'_>) -> Result<Snapshot, Refusal> {
        let want = |visibility| Want {
            room: p.room,
            visitor: p.visitor,
            entity: p.entity,
            info: p.info,
            visibility,
        };
        match p.event {
            Event::Join | Event::Heartbeat => {
                self.admit(p.session)?;
                let name = self.upsert_session(now, p.session, want(Visibility::Visible));
                self.sessions.hold(&name, now + self.cfg.ttl_ms);
            }
            Event::Leave => self.end_session(p.session, now, now),
            Event::Away => {
                let has_entity = p.entity.is_some()
                    || self
                        .sessions
                        .get(p.session)
                        .is_some_and(|s| s.entity.is_some());
                if has_entity {
                    self.admit(p.session)?;
                    let name = self.upsert_session(now, p.session, want(Visibility::Away));
                    self.sessions
                        .hold(&name, now + self.cfg.hold_ms(Visibility::Away));
                } else {
                    self.end_session(p.session, now, now);
                }
            }
        }
        let mut snap = self.snapshot(Some(p.room));
        if let (Some(r), Some(s)) = (snap.room.as_mut(), self.sessions.get(p.session)) {
            // counted in the group: here, or (a sharded site past MAX_ROOMS) over the site
            let group = if &*s.room != p.room {
                Some(&*s.room)
            } else if !self.slots.keeps(&s.room) {
                Some(OVERFLOW_ROOM)
            } else {
                None
            };
            if let Some(group) = group.filter(|_| !s.away) {
                let c = self.room_counts(group);
                r.sessions = c.sessions;
                r.visitors = c.visitors;
                r.grouped_as = Some(group.to_string());
            }
        }
        Ok(snap)
    }

    // ----- inputs: sockets -----

    /// A socket was accepted. Its first messages (the current counts with the timing, the
    /// status of each entity it watches, the members of its room) are in the next
    /// [`Presence::poll`]; they count as the socket's messages for this broadcast interval.
    pub fn socket_open(
        &mut self,
        now: Millis,
        spec: SocketSpec,
        stored: impl FnMut(&str) -> StoredEntity,
    ) -> Result<(), Refusal> {
        if self.sockets.len() >= self.cfg.limits.max_sockets {
            return Err(Refusal::TooManySockets);
        }
        if let Some(ss) = &spec.session {
            self.admit(&ss.session)?;
        }
        let id = spec.id;
        let view = spec.view.clone();
        let watch = spec.watch.clone();
        let members = spec.members.clone();
        self.add_socket(now, spec, false);
        let snap = self.snapshot(view.as_deref());
        if let Some(s) = self.sockets.get_mut(id) {
            s.sent = Some(Sent {
                at: now,
                view: View {
                    site: snap.site,
                    room: snap.room.as_ref().map(|r| Counts {
                        sessions: r.sessions,
                        visitors: r.visitors,
                    }),
                },
            });
        }
        self.out.sends.push(Send {
            to: vec![id],
            message: Message::Count {
                site: snap.site,
                room: snap.room,
                timing: Some(Timing {
                    heartbeat_ms: self.cfg.heartbeat_ms,
                    ttl_ms: self.cfg.ttl_ms,
                }),
            },
        });
        for (entity, status) in self.statuses(&watch, stored) {
            self.out.sends.push(Send {
                to: vec![id],
                message: Message::Status { entity, status },
            });
        }
        if let Some(room) = members {
            let message = self.members_message(&room);
            if let Some(s) = self.sockets.get_mut(id) {
                s.members_sent_at = Some(now);
            }
            self.out.sends.push(Send {
                to: vec![id],
                message,
            });
        }
        Ok(())
    }

    /// A message arrived on a socket: a sign of life; `away` and `back` hide and show its
    /// session; a `ping` the runtime did not answer itself is answered; a message over
    /// [`MAX_SOCKET_MESSAGE_BYTES`] closes the socket.
    pub fn socket_message(&mut self, now: Millis, id: SocketId, message: Incoming<'_>) {
        if self.sockets.get(id).is_none() {
            return;
        }
        if message.len() > MAX_SOCKET_MESSAGE_BYTES {
            self.remove_socket(id, now, now, Closed::Abnormal);
            self.out.closes.push(Close {
                socket: id,
                code: 1009,
                reason: "message too big",
            });
            return;
        }
        let Incoming::Text(text) = message else {
            self.socket_seen(id, now);
            return;
        };
        let word = text.trim();
        if word.eq_ignore_ascii_case("away") {
            self.socket_visibility(now, id, Visibility::Away);
        } else if word.eq_ignore_ascii_case("back") {
            self.socket_visibility(now, id, Visibility::Visible);
        } else if word.eq_ignore_ascii_case("ping") {
            self.out.sends.push(Send {
                to: vec![id],
                message: Message::Pong,
            });
        }
        self.socket_seen(id, now);
    }

    /// A socket's session goes away or comes back (a session without an entity that goes away
    /// ends, as with `leave`; its socket stays as a subscriber).
    fn socket_visibility(&mut self, now: Millis, id: SocketId, visibility: Visibility) {
        let Some(name) = self.sockets.get(id).and_then(|s| s.session.clone()) else {
            return;
        };
        let Some(s) = self.sessions.get(&name) else {
            return;
        };
        if s.entity.is_none() && visibility == Visibility::Away {
            self.end_session(&name, now, now);
            return;
        }
        if s.visibility() == visibility {
            return;
        }
        let (room, visitor) = (s.room.clone(), s.visitor);
        let want = Want {
            room: &room,
            visitor,
            entity: None,
            info: None,
            visibility,
        };
        self.upsert_session(now, &name, want);
        if self
            .sessions
            .get(&name)
            .is_some_and(|s| s.hold_until.is_some())
        {
            self.sessions
                .hold(&name, now + self.cfg.hold_ms(visibility));
        }
        // every socket carrying it keeps the flag through hibernation
        for sid in self.sockets.carrying(&name) {
            self.out.marks.push((sid, visibility == Visibility::Away));
        }
    }

    /// A sign of life from a socket at `at` (a message, or a ping the runtime answered).
    pub fn socket_seen(&mut self, id: SocketId, at: Millis) {
        let Some(s) = self.sockets.get(id) else {
            return;
        };
        let session = s.session.as_ref().and_then(|name| self.sessions.get(name));
        let silent_at = at.saturating_add(self.cfg.idle_ms(session.map(Session::visibility)));
        let entity = session.and_then(|sess| sess.entity.clone());
        self.sockets.seen(id, silent_at);
        if let Some(e) = entity {
            self.entities.seen(&e, at);
        }
    }

    /// A socket closed at `now`, as its close code says. Its session ends unless another socket
    /// carries it, or (after an abnormal close) an HTTP hold still runs.
    pub fn socket_closed(&mut self, now: Millis, id: SocketId, how: Closed) {
        self.remove_socket(id, now, now, how);
    }

    // ----- inputs: time -----

    /// The alarm fired at `now`: ends what has gone silent. `last_pong(id)` asks the runtime
    /// when it last answered that socket's `ping` without waking the object; it is asked only
    /// for sockets within half a `ttl` of their deadline, so a healthy socket costs one check
    /// per `ttl / 2` at most.
    pub fn alarm(&mut self, now: Millis, mut last_pong: impl FnMut(SocketId) -> Option<Millis>) {
        let horizon = now + self.cfg.ttl_ms / 2;
        for id in self.sockets.silent_before(horizon) {
            if let Some(t) = last_pong(id) {
                self.socket_seen(id, t);
            }
        }
        self.expire(now);
    }

    // ----- output -----

    /// Everything the edge must do now, after the inputs since the last poll: writes, the
    /// messages due at `now` (throttled), closes, and when to wake the core next.
    pub fn poll(&mut self, now: Millis) -> Effects {
        let mut fx = std::mem::take(&mut self.out);
        // the site's room slots depend on which rooms exist, not on their counts
        if self.tallies.take_rooms_changed() {
            self.slots_stale = true;
        }
        if self.tallies.take_changed() {
            self.throttle.mark();
            if let Some(r) = self.reporter.as_mut() {
                r.mark();
            }
        }
        self.refresh_slots();
        let (tallies, aggregator, slots, reporter) = (
            &self.tallies,
            &self.aggregator,
            &self.slots,
            self.reporter.as_ref(),
        );
        let counts = self.throttle.flush(now, &mut self.sockets, |room| {
            view_of(tallies, aggregator, slots, reporter, room)
        });
        fx.sends.extend(counts);
        for (entity, status) in self.entities.local.take_changes() {
            let to = self.sockets.watchers(&entity);
            if !to.is_empty() {
                fx.sends.push(Send {
                    to,
                    message: Message::Status {
                        entity: entity.to_string(),
                        status,
                    },
                });
            }
        }
        let mut rooms = self.entities.local.take_dirty_rooms();
        rooms.extend(self.tallies.take_anonymous_changed());
        self.members.mark(&mut self.sockets, &rooms);
        let interval = self.cfg.broadcast_interval_ms;
        let (entities, sessions) = (&self.entities, &self.sessions);
        let members = self
            .members
            .flush(now, interval, &mut self.sockets, |room| {
                members_message(entities, sessions, room)
            });
        fx.sends.extend(members);
        let transitions = self.entities.local.take_transitions();
        if self.webhooks.is_enabled() {
            let queued = self.webhooks.enqueue(transitions);
            let stale = self.webhooks.drop_stale(now);
            fx.writes
                .extend(queued.into_iter().chain(stale).map(Write::Webhook));
        }
        fx.writes.extend(
            self.entities
                .local
                .take_records()
                .into_iter()
                .map(Write::Entity),
        );
        if !self.cfg.history {
        } else if let Some(row) = self.history.observe(now, self.site_counts()) {
            fx.writes.push(Write::History(row));
        }
        self.poll_shards(now, &mut fx);
        fx.wake_at = self.next_wake();
        fx.stay_resident = self.sessions.next_expiry().is_some();
        fx
    }

    // ----- a site over many objects (see `shards.rs`) -----

    /// Which object of how many this is (from each call: `"shards"` may change on a live
    /// site). Object 0 coordinates; the others report to it.
    pub fn set_shard(&mut self, shard: u32, shards: u32) {
        let first = self.cfg.shards != shards || self.cfg.shard != shard;
        self.cfg.shard = shard;
        self.cfg.shards = shards;
        self.cfg.history = shard == 0;
        self.entities.set_forward(shard > 0);
        if shard > 0 && self.reporter.is_none() {
            self.reporter = Some(Reporter::new(shard, self.cfg.broadcast_interval_ms));
        }
        if shard == 0 {
            self.reporter = None;
            if first && shards > 1 {
                self.aggregator.greet(shards);
            }
        }
    }

    /// This instance's id (random per load): shards that see it change report in full.
    pub fn set_instance(&mut self, instance: u64) {
        self.instance = instance;
        self.slots.start_at(instance);
    }

    /// The coordinator: the site's named rooms after a change of its rooms (see `slots.rs`).
    fn refresh_slots(&mut self) {
        if !std::mem::take(&mut self.slots_stale) || self.reporter.is_some() {
            return;
        }
        if self.aggregator.is_empty() && !self.slots.is_full() {
            return; // one object caps its own rooms
        }
        let upper = self.tallies.room_count() + self.aggregator.rooms().len();
        let (tallies, aggregator) = (&self.tallies, &self.aggregator);
        if self
            .slots
            .update(upper, || merged_rooms(tallies, aggregator))
        {
            self.throttle.mark();
        }
    }

    /// Whether this object holds anything a coordinator must count or serve.
    fn holds_anything(&self) -> bool {
        self.sessions.len() > 0 || self.sockets.len() > 0
    }

    /// The coordinator's totals for a shard whose sockets view `views`.
    fn totals_for(&self, views: &[String], slots_held: u64) -> Totals {
        let slots = self.slots.version();
        Totals {
            slots,
            named: (slots != 0 && slots_held != slots).then(|| self.slots.names()),
            instance: self.instance,
            site: self.site_counts(),
            rooms: views.iter().map(|r| self.room_counts(r)).collect(),
            members_rooms: self
                .sockets
                .members_rooms()
                .iter()
                .map(|r| r.to_string())
                .collect(),
        }
    }

    /// The coordinator: a shard's report arrived at `now`; answers the totals for it.
    pub fn receive_report(&mut self, now: Millis, report: Report) -> Totals {
        let shard = report.shard;
        if report.snapshot {
            let keep: std::collections::HashSet<(Rc<str>, Rc<str>)> = report
                .entities
                .iter()
                .filter_map(|e| match e {
                    EntityEvent::Start {
                        entity, session, ..
                    } => Some((self.entities.name(entity), Rc::from(session.as_str()))),
                    _ => None,
                })
                .collect();
            self.entities.local.replace_shard(shard, &keep, now);
        }
        for event in &report.entities {
            let local = &mut self.entities.local;
            match event {
                EntityEvent::Start {
                    entity,
                    session,
                    room,
                    visible,
                    info,
                    at,
                } => {
                    let entity = local.name(entity);
                    local.session_started_on(
                        shard,
                        &entity,
                        &Rc::from(session.as_str()),
                        &Rc::from(room.as_str()),
                        *visible,
                        info.as_deref().map(Rc::from),
                        *at,
                    );
                }
                EntityEvent::End {
                    entity,
                    session,
                    at,
                    last_seen,
                } => local.session_ended(entity, session, *at, *last_seen),
                EntityEvent::Seen { entity, at } => local.seen(entity, *at),
            }
        }
        let views = report.views.clone();
        let slots_held = report.slots;
        let (totals_changed, anonymous_changed) = self.aggregator.receive(now, report);
        if totals_changed {
            self.slots_stale = true;
            self.refresh_slots();
            self.throttle.mark();
        }
        if anonymous_changed {
            let rooms = self.sockets.members_rooms();
            self.members.mark(&mut self.sockets, &rooms);
        }
        let totals = self.totals_for(&views, slots_held);
        self.aggregator.answered(shard, &totals, now);
        totals
    }

    /// A shard: the report in flight was answered with `totals`, or failed (`None`).
    pub fn report_answered(&mut self, now: Millis, mut totals: Option<Totals>) {
        if let Some(t) = totals.as_mut() {
            self.slots.learn(t.slots, t.named.take());
        }
        if let Some(r) = self.reporter.as_mut() {
            let lost = r.answered(now, totals);
            self.entities.put_back(lost);
            self.throttle.mark();
        }
    }

    /// A shard: the coordinator pushed new totals.
    pub fn totals_pushed(&mut self, mut totals: Totals) {
        if self.reporter.is_some() {
            self.slots.learn(totals.slots, totals.named.take());
        }
        if let Some(r) = self.reporter.as_mut() {
            r.received(totals);
            self.throttle.mark();
        }
    }

    /// This object's visible sessions in `room` without an entity.
    pub fn local_anonymous(&self, room: &str) -> Counts {
        anonymous_in(&self.sessions, room)
    }

    /// The reports and pushes due at `now`.
    fn poll_shards(&mut self, now: Millis, fx: &mut Effects) {
        if self.reporter.is_none() {
            if self.aggregator.expire(now) {
                self.slots_stale = true;
                self.refresh_slots();
                self.throttle.mark();
            }
            let interval = self.cfg.broadcast_interval_ms;
            let totals: Vec<(u32, Totals)> = self
                .aggregator
                .viewers()
                .into_iter()
                .map(|(shard, views)| {
                    let held = self.aggregator.slots_held(shard);
                    (shard, self.totals_for(&views, held))
                })
                .collect();
            let (pushes, pending) = self.aggregator.pushes(now, interval, totals);
            self.push_wake = pending;
            fx.pushes = pushes;
            return;
        }
        if let Some(lost) = self.reporter.as_mut().and_then(|r| r.time_out(now)) {
            self.entities.put_back(lost);
        }
        let holds = self.holds_anything();
        let news = self.entities.has_news();
        let due = self
            .reporter
            .as_ref()
            .and_then(|r| r.due_at(holds, news))
            .is_some_and(|t| t <= now);
        if !due {
            return;
        }
        let snapshot = self.reporter.as_ref().is_some_and(Reporter::snapshot_due);
        let entities = if snapshot {
            self.entities.clear_news();
            self.entity_snapshot(now)
        } else {
            self.entities.take_news()
        };
        let views: Vec<String> = self
            .sockets
            .views()
            .filter_map(|(r, _)| r.map(|r| r.to_string()))
            .collect();
        let members_rooms = self
            .reporter
            .as_ref()
            .and_then(|r| r.totals.as_ref())
            .map(|t| t.members_rooms.clone())
            .unwrap_or_default();
        let anonymous = members_rooms
            .iter()
            .map(|r| RoomCounts::new(r, anonymous_in(&self.sessions, r)))
            .collect();
        let (site, rooms, sockets) = (
            self.tallies.site(),
            self.tallies.list(),
            self.sockets.len() as u32,
        );
        if let Some(r) = self.reporter.as_mut() {
            let mut report = r.take_report(
                now, site, rooms, views, sockets, anonymous, entities, snapshot,
            );
            report.slots = self.slots.version();
            fx.report = Some(report);
        }
    }

    /// Every entity session of this object, as a shard reports them after a restart.
    fn entity_snapshot(&self, now: Millis) -> Vec<EntityEvent> {
        self.sessions
            .iter()
            .filter_map(|(name, s)| {
                let entity = s.entity.as_ref()?;
                Some(EntityEvent::Start {
                    entity: entity.to_string(),
                    session: name.to_string(),
                    room: s.room.to_string(),
                    visible: !s.away,
                    info: s.info.as_deref().map(str::to_owned),
                    at: now,
                })
            })
            .collect()
    }

    /// The minute in progress of the site's history, when it has changes not yet stored.
    pub fn history_pending(&self) -> Option<MinuteRow> {
        self.history.pending()
    }

    // ----- webhooks -----

    /// Sends the site's entity events (those `events` names) as webhooks from now on; ids
    /// start with `id_prefix` (random per instance); `stored` is the queue storage kept.
    pub fn enable_webhooks(
        &mut self,
        site: &str,
        events: WebhookEvents,
        id_prefix: &str,
        stored: Vec<Delivery>,
    ) {
        self.webhooks = Webhooks::new(site, events, id_prefix);
        self.webhooks.restore(stored);
    }

    /// Keeps the site's webhook events queued (and stored) without trying them: the edge has
    /// no secret to sign them with. A restart with the secret set delivers them.
    pub fn hold_webhooks(&mut self) {
        self.webhooks.hold();
    }

    /// The webhook deliveries to try now (in flight until [`Presence::webhook_answered`]).
    pub fn due_webhooks(&mut self, now: Millis) -> Vec<Delivery> {
        self.webhooks.due(now)
    }

    /// A try of delivery `id` ended at `now`.
    pub fn webhook_answered(&mut self, id: &str, outcome: Outcome, now: Millis) {
        let changes = self.webhooks.answered(id, outcome, now);
        self.out
            .writes
            .extend(changes.into_iter().map(Write::Webhook));
    }

    /// When the core must be woken next: the earliest expiry or pending broadcast.
    fn next_wake(&self) -> Option<Millis> {
        [
            self.sessions.next_expiry(),
            self.sockets.next_silence(),
            self.throttle.wake(),
            self.members.wake(),
            self.entities.local.next_wake(),
            self.webhooks.next_wake(),
            self.history.next_wake(),
            self.aggregator.next_expiry(),
            self.push_wake,
            self.reporter
                .as_ref()
                .and_then(|r| r.due_at(self.holds_anything(), self.entities.has_news())),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- checks -----

    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        let mut site = counts::Tally::default();
        let mut rooms: std::collections::HashMap<&str, counts::Tally> = Default::default();
        for (_, s) in self.sessions.iter().filter(|(_, s)| !s.away) {
            site.add(s.visitor);
            rooms.entry(&s.room).or_default().add(s.visitor);
        }
        let mut list: Vec<RoomCounts> = rooms
            .iter()
            .map(|(r, t)| RoomCounts::new(r, t.counts()))
            .collect();
        list.sort_by(|a, b| a.room.cmp(&b.room));
        (site.counts(), list)
    }

    /// The current tallies in the same shape as [`Presence::recount`].
    pub fn tallies(&self) -> (Counts, Vec<RoomCounts>) {
        (self.tallies.site(), self.tallies.list())
    }

    // ----- internals -----

    /// Refuses a new session past the ceiling; a known session is always admitted.
    fn admit(&self, session: &str) -> Result<(), Refusal> {
        if !self.sessions.contains(session) && self.sessions.len() >= self.cfg.limits.max_sessions {
            return Err(Refusal::SiteFull);
        }
        Ok(())
    }

    /// Makes `session` live as `want` says: a join when it is new, a change (room, visitor,
    /// entity, info, away or back) when something differs, a confirmation when it was
    /// restored, and a mere sign of life otherwise. Answers the session's shared name.
    fn upsert_session(&mut self, now: Millis, session: &str, want: Want<'_>) -> Rc<str> {
        let away = want.visibility == Visibility::Away;
        let room = self.tallies.place(
            want.room,
            self.sessions.get(session).map(|s| &s.room),
            &self.slots,
        );
        let new_entity = want.entity.map(|e| self.entities.name(e));
        let new_info: Option<Rc<str>> = want.info.map(Rc::from);
        let Some(name) = self.sessions.name(session) else {
            let name: Rc<str> = Rc::from(session);
            if let Some(e) = &new_entity {
                self.entities
                    .session_started(e, &name, &room, !away, new_info.clone(), now);
            }
            if !away {
                self.tallies.add(&room, want.visitor, new_entity.is_none());
            }
            let s = Session {
                room,
                visitor: want.visitor,
                entity: new_entity,
                info: new_info,
                joined_at: now,
                hold_until: HoldUntil::NONE,
                sockets: 0,
                restored: false,
                away,
            };
            self.out.writes.push(upsert(&name, &s));
            self.sessions.insert(name.clone(), s);
            return name;
        };
        let Some(s) = self.sessions.get_mut(&name) else {
            return name;
        };
        let entity_changed = new_entity
            .as_ref()
            .is_some_and(|e| s.entity.as_deref() != Some(&**e));
        let info_changed = new_info.is_some() && s.info != new_info;
        if s.room == room
            && s.visitor == want.visitor
            && s.away == away
            && !entity_changed
            && !info_changed
        {
            if std::mem::take(&mut s.restored) {
                self.out.writes.push(Write::Confirm {
                    session: session.to_owned(),
                });
            }
            if let Some(e) = &s.entity {
                self.entities.seen(e, now);
            }
            return name;
        }
        // uncount it as it was, change it, count it as it is
        if !s.away {
            self.tallies.remove(&s.room, s.visitor, s.entity.is_none());
        }
        let old_entity = if entity_changed {
            std::mem::replace(&mut s.entity, new_entity)
        } else {
            None
        };
        s.room = room;
        s.visitor = want.visitor;
        s.away = away;
        s.restored = false;
        if new_info.is_some() {
            s.info = new_info;
        }
        if !s.away {
            self.tallies.add(&s.room, s.visitor, s.entity.is_none());
        }
        if let Some(old) = old_entity {
            self.entities.session_ended(&old, &name, now, now);
        }
        if let Some(e) = &s.entity {
            self.entities
                .session_started(e, &name, &s.room, !s.away, s.info.clone(), now);
        }
        self.out.writes.push(upsert(&name, s));
        name
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    fn end_session(&mut self, session: &str, now: Millis, last_seen: Millis) {
        let Some((name, s)) = self.sessions.remove(session) else {
            return;
        };
        if let Some(e) = &s.entity {
            self.entities.session_ended(e, &name, now, last_seen);
        }
        if s.sockets > 0 {
            self.sockets.detach_session(&name);
        }
        if !s.away {
            self.tallies.remove(&s.room, s.visitor, s.entity.is_none());
        }
        self.out.writes.push(Write::Delete {
            session: name.to_string(),
        });
    }

    /// Registers a socket (new, or back from its attachment when `restoring`).
    fn add_socket(&mut self, now: Millis, spec: SocketSpec, restoring: bool) {
        if self.sockets.get(spec.id).is_some() {
            self.remove_socket(spec.id, now, now, Closed::Abnormal);
        }
        let session = spec.session.map(|ss| {
            let name = if restoring {
                self.restore_socket_session(now, &ss)
            } else {
                let want = Want {
                    room: &ss.room,
                    visitor: ss.visitor,
                    entity: ss.entity.as_deref(),
                    info: ss.info.as_deref(),
                    visibility: Visibility::Visible,
                };
                self.upsert_session(now, &ss.session, want)
            };
            if let Some(s) = self.sessions.get_mut(&name) {
                s.sockets += 1;
            }
            name
        });
        let visibility = session
            .as_ref()
            .and_then(|n| self.sessions.get(n))
            .map(Session::visibility);
        let silent_at = spec.seen_at.saturating_add(self.cfg.idle_ms(visibility));
        let view = spec
            .view
            .map(|r| self.sockets.view_name(&r).unwrap_or_else(|| Rc::from(r)));
        let watch = spec
            .watch
            .iter()
            .map(|e| {
                self.sockets
                    .watched_name(e)
                    .unwrap_or_else(|| Rc::from(e.as_str()))
            })
            .collect();
        if let Some(r) = self.reporter.as_mut() {
            r.mark();
        }
        self.sockets.insert(
            spec.id,
            Socket {
                session,
                view,
                watch,
                members: spec.members.map(Rc::from),
                members_sent_at: None,
                members_pending: false,
                silent_at,
                sent: None,
            },
        );
    }

    /// Removes a socket at `now`; its last sign of life was `last_seen`.
    fn remove_socket(&mut self, id: SocketId, now: Millis, last_seen: Millis, how: Closed) {
        let Some(sock) = self.sockets.remove(id) else {
            return;
        };
        if let Some(r) = self.reporter.as_mut() {
            r.mark();
        }
        let Some(name) = sock.session else {
            return;
        };
        let ended = self.sessions.get_mut(&name).is_some_and(|s| {
            s.sockets = s.sockets.saturating_sub(1);
            s.sockets == 0 && (how == Closed::Clean || s.hold_until.is_none())
        });
        if ended {
            self.end_session(&name, now, last_seen);
        }
    }

    /// Ends what has gone silent by `now`: HTTP holds that ran out (for sessions no socket
    /// carries), sockets silent for their idle time, and entity graces.
    fn expire(&mut self, now: Millis) {
        while let Some((until, name)) = self.sessions.pop_expired_hold(now) {
            let ended = self
                .sessions
                .get(&name)
                .filter(|s| s.sockets == 0)
                .map(|s| (s.restored, s.visibility()));
            if let Some((restored, visibility)) = ended {
                // It ended when its hold ran out, however late the sweep runs; its last sign
                // of life was a hold before that, unless the hold only came from a restart
                // (then the stored last-seen time stands).
                let last_seen = if restored {
                    0
                } else {
                    until.saturating_sub(self.cfg.hold_ms(visibility))
                };
                self.end_session(&name, until, last_seen);
            }
        }
        while let Some((deadline, id)) = self.sockets.pop_silent(now) {
            let visibility = self
                .sockets
                .get(id)
                .and_then(|s| s.session.as_ref())
                .and_then(|n| self.sessions.get(n))
                .map(Session::visibility);
            let idle = self.cfg.idle_ms(visibility.or(Some(Visibility::Visible)));
            self.remove_socket(
                id,
                deadline,
                deadline.saturating_sub(idle),
                Closed::Abnormal,
            );
            self.out.closes.push(Close {
                socket: id,
                code: 1001,
                reason: SILENT_REASON,
            });
        }
        self.entities.local.expire(now);
    }
}

/// The members message of `room`.
fn members_message(entities: &EntityLink, sessions: &Sessions, room: &str) -> Message {
    let (members, truncated) = entities.local.members(room, MAX_MEMBERS);
    Message::Members {
        room: room.to_owned(),
        members,
        anonymous: anonymous_in(sessions, room),
        truncated,
    }
}

/// The visible sessions in `room` without an entity, and their distinct visitors (a scan: only
/// members answers ask, at most once per broadcast interval per room).
fn anonymous_in(sessions: &Sessions, room: &str) -> Counts {
    let mut tally = counts::Tally::default();
    for (_, s) in sessions.iter() {
        if !s.away && s.entity.is_none() && &*s.room == room {
            tally.add(s.visitor);
        }
    }
    tally.counts()
}

/// The row of a session as it is now.
fn upsert(name: &str, s: &Session) -> Write {
    Write::Upsert {
        session: name.to_owned(),
        room: s.room.to_string(),
        visitor: s.visitor,
        entity: s.entity.as_deref().map(str::to_owned),
        info: s.info.as_deref().map(str::to_owned),
        joined_at: s.joined_at,
        away: s.away,
    }
}

/// What a socket viewing `room` (or the site alone) shows: this object's tallies for an
/// unsharded site; its own plus its shards' reports on a coordinator; the coordinator's last
/// totals corrected by its own changes since on a shard.
fn view_of(
    tallies: &Tallies,
    aggregator: &Aggregator,
    slots: &RoomSlots,
    reporter: Option<&Reporter>,
    room: Option<&str>,
) -> View {
    match reporter {
        Some(r) => {
            let (site, room) = r.view(tallies.site(), |x| tallies.room(x), room);
            View { site, room }
        }
        None => View {
            site: shards::add(tallies.site(), aggregator.site()),
            room: room.map(|r| {
                if !slots.is_full() {
                    shards::add(tallies.room(r), aggregator.room(r))
                } else if r == OVERFLOW_ROOM {
                    // the group holds every room without a slot
                    let folded = slots.fold(merged_rooms(tallies, aggregator));
                    folded.get(OVERFLOW_ROOM).copied().unwrap_or_default()
                } else if slots.keeps(r) {
                    shards::add(tallies.room(r), aggregator.room(r))
                } else {
                    Counts::default() // counted in the group, as on one object
                }
            }),
        },
    }
}

/// Every room's counts over the site: this object's and its shards' reports.
fn merged_rooms(tallies: &Tallies, aggregator: &Aggregator) -> HashMap<String, Counts> {
    let mut all: HashMap<String, Counts> = aggregator.rooms().clone();
    for r in tallies.list() {
        let local = Counts {
            sessions: r.sessions,
            visitors: r.visitors,
        };
        let e = all.entry(r.room).or_default();
        *e = shards::add(*e, local);
    }
    all
}
