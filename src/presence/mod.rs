//! The presence core: who is live in which room of one site, and what should happen next.
//!
//! No I/O and no `worker::` types. Every input takes the time as an argument (epoch
//! milliseconds); after any input the edge calls [`Presence::poll`], which answers one
//! [`Effects`] value: the rows to write, the messages to send (the first snapshot of a new
//! socket, throttled count messages, entity status changes, pongs), the sockets to close, the
//! report or pushes for the site's other objects, and when to wake the core again
//! ([`Presence::alarm`]). The Durable Object only carries these out.
//!
//! `Presence` owns its parts and delegates to them:
//! - `local/`: this object's sessions, sockets and tallies, and their lifecycle;
//! - `role.rs`: what the object is for its site (single, coordinator, shard), with the site's
//!   entities, webhooks and history where it keeps them (`entities/`, `webhooks.rs`,
//!   `history.rs`) and the shard protocol where it has one (`shards/`, `slots.rs`);
//! - `broadcast.rs`: the throttles (where a count or a members list goes out);
//! - `effects.rs` and `messages.rs`: what the edge must do, and the socket messages' JSON;
//! - `deadlines.rs`: the one timer queue the parts use.
//!
//! A **session** is live while an HTTP hold has not expired (a join or heartbeat gives it
//! `ttl`) or while at least one socket carries it. A **socket** is either a session carrier
//! (`/v1/live?session=..`) or a plain subscriber; both receive count messages for their view
//! (the site, plus the room they named).

mod broadcast;
mod deadlines;
pub mod effects;
pub mod entities;
pub mod history;
mod keeper;
mod local;
pub mod messages;
mod objects;
mod role;
pub mod shards;
mod slots;
mod sockets;
pub mod types;
pub mod webhooks;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::rc::Rc;

use broadcast::{MembersThrottle, Throttle, View};
use local::{Local, Want};
use role::Role;

#[cfg(test)]
pub use effects::{Close, Message, Timing};
pub use effects::{Effects, Send, Write};
#[cfg(test)]
pub use entities::State;
pub use entities::{pattern_allows, EntityStatus};
/// A socket's limits and the codes it is closed with, for the OpenAPI document.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use local::{BUDGET_WINDOW_MS, MESSAGE_BUDGET, TOKEN_EXPIRED, TOO_MANY_MESSAGES};
pub use role::Placement;
pub use types::*;
pub use webhooks::{Delivery, Events as WebhookEvents, Outcome, QueueChange};

/// The presence of one site on one of its objects.
#[derive(Debug)]
pub struct Presence {
    cfg: Config,
    local: Local,
    role: Role,
    throttle: Throttle,
    members: MembersThrottle,
    /// What inputs asked for since the last [`Presence::poll`].
    out: Effects,
}

impl Presence {
    #[cfg(test)]
    /// The one object of an unsharded site.
    pub fn new(cfg: Config) -> Self {
        Presence::start(cfg, Placement::SINGLE, 0)
    }

    /// The object at `placement` of its site, as instance `instance` (random per load: shards
    /// that see their coordinator's instance change report in full).
    pub fn start(cfg: Config, placement: Placement, instance: u64) -> Self {
        Presence {
            cfg,
            local: Local::new(cfg),
            role: Role::new(&cfg, placement, instance),
            throttle: Throttle::new(cfg.broadcast_interval_ms),
            members: MembersThrottle::default(),
            out: Effects::default(),
        }
    }

    /// The site now has `count` objects (a deploy changed `"shards"`): object 0 coordinates, or
    /// stops coordinating; what it keeps stays.
    pub fn set_object_count(&mut self, count: u32, instance: u64) {
        let role = std::mem::replace(&mut self.role, Role::new(&self.cfg, Placement::SINGLE, 0));
        self.role = role.recount(count, instance, self.cfg.limits.max_rooms);
        self.throttle.mark();
    }

    pub fn config(&self) -> Config {
        self.cfg
    }

    // ----- reading -----

    /// What a socket viewing `room` (or the site alone) shows now.
    fn view(&self, room: Option<&str>) -> View {
        self.role.view(&self.local, room)
    }

    /// The site's counts: over every object of a sharded site.
    pub fn site_counts(&self) -> Counts {
        self.view(None).site
    }

    /// A room's counts: over every object of a sharded site.
    pub fn room_counts(&self, room: &str) -> RoomCounts {
        RoomCounts::new(room, self.view(Some(room)).room.unwrap_or_default())
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// This object's own counts (for a shard, its share of the site).
    pub fn local_counts(&self) -> Counts {
        self.local.site()
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
        match self.role.coordinator() {
            Some(c) if c.has_reports() || c.slots().is_full() => {
                let all = c.all_rooms(&self.local);
                local::top_of(all.iter().map(|(r, c)| (r.as_str(), *c)).collect(), limit)
            }
            _ => self.local.top_rooms(limit),
        }
    }

    #[cfg(test)]
    /// Number of rooms as this object counts them: the named ones, and `~other` if it holds any.
    pub fn room_count(&self) -> usize {
        self.local.rooms().len()
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Number of open sockets (carriers and subscribers).
    pub fn socket_count(&self) -> usize {
        self.local.socket_count()
    }

    #[cfg(test)]
    /// Number of live sessions, away ones included.
    pub fn session_count(&self) -> usize {
        self.local.session_count()
    }

    #[cfg(test)]
    pub fn is_live(&self, session: &str) -> bool {
        self.local.is_live(session)
    }

    #[cfg(test)]
    /// The room a live session is counted in.
    pub fn session_room(&self, session: &str) -> Option<&str> {
        self.local.session_room(session)
    }

    #[cfg(test)]
    /// Whether a live session must have a row (an HTTP hold, or an entity).
    pub fn needs_row(&self, session: &str) -> bool {
        self.local.needs_row(session)
    }

    #[cfg(test)]
    /// The entity a live session carries.
    pub fn entity_of(&self, session: &str) -> Option<&str> {
        self.local.entity_of(session)
    }

    #[cfg(test)]
    /// Whether a live session is away.
    pub fn is_away(&self, session: &str) -> bool {
        self.local.is_away(session)
    }

    /// This object's visible sessions in `room` without an entity.
    pub fn local_anonymous(&self, room: &str) -> Counts {
        self.local.anonymous_in(room)
    }

    // ----- inputs: HTTP pings -----

    /// Applies a ping and answers the counts of the site and of the ping's room (with
    /// `grouped_as` when the room is counted in `~other`). A session that carries an entity
    /// is touched only by a ping with a valid track token for it (`p.entity`).
    pub fn ping(&mut self, now: Millis, p: Ping<'_>) -> Result<Snapshot, Refusal> {
        self.local.check_owner(p.session, p.entity)?;
        let want = |visibility| Want {
            room: p.room,
            visitor: p.visitor,
            address: p.address,
            entity: p.entity,
            info: p.info,
            visibility,
            by_socket: false,
        };
        // an entity's session stays away; any other ends, as with `leave`
        let stays_away = p.event == Event::Away && p.entity.is_some();
        let signal = match p.event {
            Event::Signal | Event::SignalEnd => {
                let on = p.event == Event::Signal;
                let name = p.signal.unwrap_or_default();
                self.local
                    .check_signal(p.session, p.entity, name, on, now)?;
                Some((name, on))
            }
            _ => None,
        };
        match p.event {
            Event::Leave => self.local.end(p.session, now, now, &mut self.out),
            Event::Away if !stays_away => self.local.end(p.session, now, now, &mut self.out),
            _ => {
                let v = if stays_away {
                    Visibility::Away
                } else {
                    Visibility::Visible
                };
                self.local.admit(p.session, p.address)?;
                let name = self.local.upsert(now, p.session, want(v), &mut self.out);
                self.local.hold(&name, now, v, &mut self.out);
                if let Some((signal, on)) = signal {
                    self.local.signal(now, &name, signal, on);
                }
            }
        }
        self.route();
        Ok(self.ping_answer(p.session, p.room))
    }

    /// The counts a ping is answered with: the site's, and its room's, or those of `~other`
    /// when the room has no slot.
    fn ping_answer(&self, session: &str, room: &str) -> Snapshot {
        let mut snap = self.snapshot(Some(room));
        let grouped = self.local.is_counted(session) && !self.local.is_named(room);
        if let (true, Some(r)) = (grouped, snap.room.as_mut()) {
            let c = self.room_counts(OVERFLOW_ROOM);
            r.sessions = c.sessions;
            r.visitors = c.visitors;
            r.grouped_as = Some(OVERFLOW_ROOM.to_string());
        }
        snap
    }

    // ----- inputs: time -----

    /// The alarm fired at `now`: ends what has gone silent. `last_pong(id)` asks the runtime
    /// when it last answered that socket's `ping` without waking the object; it is asked only
    /// for sockets within half a `ttl` of their deadline, so a healthy socket costs one check
    /// per `ttl / 2` at most.
    pub fn alarm(&mut self, now: Millis, mut last_pong: impl FnMut(SocketId) -> Option<Millis>) {
        let horizon = now + self.cfg.ttl_ms / 2;
        for id in self.local.silent_before(horizon) {
            if let Some(t) = last_pong(id) {
                self.local.socket_seen(id, t);
            }
        }
        self.local.expire(now, &mut self.out);
        self.route();
        if let Some(k) = self.role.keeper_mut() {
            k.entities.expire(now);
        }
    }

    /// Rebuilds the state at `now` from the stored session rows and the open sockets (after a
    /// restart or a wake from hibernation). What the sockets last received is unknown, so the
    /// next change goes to all of them; watchers learn statuses again when they reconnect.
    pub fn restore(&mut self, now: Millis, rows: Vec<StoredSession>, sockets: Vec<SocketSpec>) {
        self.local.restore(now, rows, sockets, &mut self.out);
        self.route();
        self.throttle.reset();
        if let Some(k) = self.role.keeper_mut() {
            k.entities.take_changes();
            k.entities.take_transitions();
            k.entities.take_dirty_rooms();
        }
    }

    /// After an input: entity changes of this object's sessions go where the role keeps them,
    /// and the site's room slots look again if this object's rooms changed.
    fn route(&mut self) {
        let events = self.local.take_events();
        if !events.is_empty() {
            self.role.route(events);
        }
        if self.local.take_rooms_changed() && self.role.refresh_slots(&mut self.local) {
            self.throttle.mark();
        }
    }

    // ----- output -----

    /// Everything the edge must do now, after the inputs since the last poll: writes, the
    /// messages due at `now` (throttled), closes, reports and pushes, and when to wake next.
    pub fn poll(&mut self, now: Millis) -> Effects {
        let mut fx = std::mem::take(&mut self.out);
        self.note_changes();
        fx.sends.extend(self.flush_counts(now));
        self.poll_keeper(now, &mut fx);
        self.poll_shards(now, &mut fx);
        fx.wake_at = [self.local.next_wake(), self.role.next_wake(&self.local)]
            .into_iter()
            .flatten()
            .min();
        fx.flush_at = [self.throttle.wake(), self.members.wake()]
            .into_iter()
            .flatten()
            .min();
        fx.stay_resident = self.local.has_holds();
        fx
    }

    /// The count messages due at `now`: each view's counts computed once, for every socket of
    /// that view that is due.
    fn flush_counts(&mut self, now: Millis) -> Vec<Send> {
        if !self.throttle.is_due(now) {
            return Vec::new();
        }
        let site = self.view(None);
        let rooms: HashMap<Rc<str>, View> = (self.local.sockets.views())
            .filter_map(|(room, _)| room.map(|r| (r.clone(), self.view(Some(r)))))
            .collect();
        let view_of = |room: Option<&str>| room.and_then(|r| rooms.get(r)).copied().unwrap_or(site);
        self.throttle.flush(now, &mut self.local.sockets, view_of)
    }

    /// What the inputs since the last poll changed, told to the throttle and the role.
    fn note_changes(&mut self) {
        let changes = self.local.take_changes();
        if changes.counts {
            self.throttle.mark();
        }
        if let Role::Shard(s) = &mut self.role {
            if changes.counts || changes.sockets {
                s.mark();
            }
        }
    }

    // ----- checks -----

    #[cfg(test)]
    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        self.local.recount()
    }

    #[cfg(test)]
    /// The current tallies in the same shape as [`Presence::recount`].
    pub fn tallies(&self) -> (Counts, Vec<RoomCounts>) {
        (self.local.site(), self.local.rooms())
    }
}
