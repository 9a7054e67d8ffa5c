//! The presence core: who is live in which room of one site, and what should happen next.
//!
//! No I/O and no `worker::` types. Every call takes the time as an argument (epoch
//! milliseconds) and the core answers with what the edge must do: the counts, the rows to
//! write ([`Presence::take_writes`]), the count messages to send ([`Presence::flush`]), the
//! silent sockets to close ([`Presence::expire`]) and when to wake up next
//! ([`Presence::next_wake`]). The Durable Object in `object.rs` only carries these out.
//!
//! A **session** is live while an HTTP hold has not expired (a join or heartbeat gives it
//! `ttl`) or while at least one socket carries it. A **socket** is either a session carrier
//! (`/v1/live?session=..`) or a plain subscriber; both receive count messages for their view
//! (the site, plus the room they named).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::entities::{Entities, EntityStatus};

/// Epoch milliseconds.
pub type Millis = u64;

/// Identifies one socket for the life of its connection; assigned by the edge.
pub type SocketId = u64;

/// A plain subscriber socket that never pings is closed after this long without a sign of
/// life (or 20 `ttl`s, whichever is longer). It does not count, so this only frees its slot.
pub const SUBSCRIBER_IDLE_MIN_MS: Millis = 10 * 60 * 1000;

/// A visitor, hashed by the edge before it reaches the core (never the raw id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitorKey(pub u64);

/// Live sessions and distinct visitors among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sessions: u32,
    pub visitors: u32,
}

/// Counts of one room, as the contract shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomCounts {
    pub room: String,
    pub sessions: u32,
    pub visitors: u32,
    /// Set when the site had too many rooms and this one is counted in the overflow group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grouped_as: Option<String>,
}

impl RoomCounts {
    fn new(room: &str, c: Counts) -> Self {
        RoomCounts {
            room: room.to_owned(),
            sessions: c.sessions,
            visitors: c.visitors,
            grouped_as: None,
        }
    }
}

/// Where sessions go once a site has `max_rooms` rooms: counted, listed, never dropped.
pub const OVERFLOW_ROOM: &str = "~other";

/// Hard ceilings per site, so no one can exhaust a site's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live sessions; a new one past this is refused (`site_full`).
    pub max_sessions: usize,
    /// Rooms; sessions in further rooms are counted in [`OVERFLOW_ROOM`].
    pub max_rooms: usize,
    /// Open sockets; the platform allows 32,768 per object (`too_many_sockets`).
    pub max_sockets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 100_000,
            max_rooms: 1_000,
            max_sockets: 30_000,
        }
    }
}

/// Why the core refused a new session or socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    SiteFull,
    TooManySockets,
}

/// What a client said in a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Join,
    Heartbeat,
    Leave,
}

/// Timing settings of one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub ttl_ms: Millis,
    pub broadcast_interval_ms: Millis,
    /// How long an entity stays online after its last session ended.
    pub leave_grace_ms: Millis,
    pub limits: Limits,
}

impl Config {
    fn subscriber_idle_ms(&self) -> Millis {
        SUBSCRIBER_IDLE_MIN_MS.max(self.ttl_ms.saturating_mul(20))
    }
}

/// A storage change the edge must carry out. Heartbeats produce none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// A session began or moved room: keep it, so that a restart counts it again.
    /// Clears any restore mark.
    Upsert {
        session: String,
        room: String,
        visitor: VisitorKey,
        entity: Option<String>,
        joined_at: Millis,
    },
    /// A session ended.
    Delete { session: String },
    /// The first sign of life of a session restored from storage: clear its restore mark.
    Confirm { session: String },
    /// These restored sessions were given one `ttl` from `at`; if the object restarts again
    /// before they show a sign of life, they get no second `ttl`.
    MarkRestored { at: Millis, sessions: Vec<String> },
    /// An entity's last sign of life, kept across restarts (written on joins and ends).
    EntitySeen { entity: String, last_seen: Millis },
}

/// A session row as storage keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    pub session: String,
    pub room: String,
    pub visitor: VisitorKey,
    pub entity: Option<String>,
    /// The entity's stored last sign of life.
    pub entity_last_seen: Option<Millis>,
    pub joined_at: Millis,
    /// Set when the session was restored and has shown no sign of life since.
    pub restored_at: Option<Millis>,
}

/// The session a socket carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSession {
    pub session: String,
    pub visitor: VisitorKey,
    pub room: String,
    /// The entity the session carries (its track token was checked by the edge).
    pub entity: Option<String>,
}

/// A socket as the edge knows it (from the upgrade request, or from its attachment after the
/// object restarted or woke from hibernation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSpec {
    pub id: SocketId,
    /// The session this socket carries, if any.
    pub session: Option<SocketSession>,
    /// The room whose counts this socket receives besides the site's, if it named one.
    pub view: Option<String>,
    /// Entities whose status this socket receives (its watch token was checked by the edge).
    pub watch: Vec<String>,
    /// The last sign of life (connection time, last ping or message).
    pub seen_at: Millis,
}

/// One status message to send to the sockets watching an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusBroadcast {
    pub sockets: Vec<SocketId>,
    pub entity: String,
    pub status: EntityStatus,
}

/// One count message to send to some sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub sockets: Vec<SocketId>,
    pub site: Counts,
    pub room: Option<RoomCounts>,
}

/// Site counts plus, when asked for, one room's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub site: Counts,
    pub room: Option<RoomCounts>,
}

/// Sessions and distinct visitors of one scope (the site or a room).
#[derive(Clone, Debug, Default)]
struct Tally {
    sessions: u32,
    visitors: HashMap<VisitorKey, u32>,
}

impl Tally {
    fn add(&mut self, v: VisitorKey) {
        self.sessions += 1;
        *self.visitors.entry(v).or_insert(0) += 1;
    }

    fn remove(&mut self, v: VisitorKey) {
        self.sessions = self.sessions.saturating_sub(1);
        if let Some(n) = self.visitors.get_mut(&v) {
            *n -= 1;
            if *n == 0 {
                self.visitors.remove(&v);
            }
        }
    }

    fn counts(&self) -> Counts {
        Counts {
            sessions: self.sessions,
            visitors: self.visitors.len() as u32,
        }
    }
}

#[derive(Clone, Debug)]
struct Session {
    room: String,
    visitor: VisitorKey,
    entity: Option<String>,
    joined_at: Millis,
    /// The HTTP hold: live until then without a heartbeat.
    http_until: Option<Millis>,
    /// How many open sockets carry this session.
    sockets: u32,
    /// Restored from storage and not yet confirmed by a sign of life.
    restored: bool,
}

/// What one socket last received, to send nothing when nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    site: Counts,
    room: Option<Counts>,
}

#[derive(Clone, Debug)]
struct Socket {
    session: Option<String>,
    view: Option<String>,
    watch: Vec<String>,
    deadline: Millis,
    last_sent_at: Option<Millis>,
    last_sent: Option<View>,
}

/// The presence of one site.
#[derive(Debug)]
pub struct Presence {
    cfg: Config,
    sessions: HashMap<String, Session>,
    site: Tally,
    rooms: HashMap<String, Tally>,
    /// HTTP holds by expiry.
    http_deadlines: BTreeSet<(Millis, String)>,
    sockets: HashMap<SocketId, Socket>,
    /// Sockets by the time they fall silent.
    socket_deadlines: BTreeSet<(Millis, SocketId)>,
    /// Sockets grouped by the room they view (None: the site only).
    views: HashMap<Option<String>, HashSet<SocketId>>,
    /// Sockets by the entity they watch.
    watchers: HashMap<String, HashSet<SocketId>>,
    entities: Entities,
    /// Counts changed since sockets were last told.
    dirty: bool,
    /// The earliest time a flush can send anything.
    next_flush_at: Millis,
    writes: Vec<Write>,
}

impl Presence {
    pub fn new(cfg: Config) -> Self {
        Presence {
            cfg,
            sessions: HashMap::new(),
            site: Tally::default(),
            rooms: HashMap::new(),
            http_deadlines: BTreeSet::new(),
            sockets: HashMap::new(),
            socket_deadlines: BTreeSet::new(),
            views: HashMap::new(),
            watchers: HashMap::new(),
            entities: Entities::new(cfg.leave_grace_ms),
            dirty: false,
            next_flush_at: 0,
            writes: Vec::new(),
        }
    }

    pub fn config(&self) -> Config {
        self.cfg
    }

    // ----- reading -----

    pub fn site_counts(&self) -> Counts {
        self.site.counts()
    }

    pub fn room_counts(&self, room: &str) -> RoomCounts {
        let c = self.rooms.get(room).map(Tally::counts).unwrap_or_default();
        RoomCounts::new(room, c)
    }

    pub fn snapshot(&self, room: Option<&str>) -> Snapshot {
        Snapshot {
            site: self.site_counts(),
            room: room.map(|r| self.room_counts(r)),
        }
    }

    /// The busiest rooms first (by sessions, then visitors, then name), at most `limit`.
    pub fn top_rooms(&self, limit: usize) -> Vec<RoomCounts> {
        let mut all: Vec<(&String, Counts)> =
            self.rooms.iter().map(|(r, t)| (r, t.counts())).collect();
        let order = |a: &(&String, Counts), b: &(&String, Counts)| {
            b.1.sessions
                .cmp(&a.1.sessions)
                .then(b.1.visitors.cmp(&a.1.visitors))
                .then(a.0.cmp(b.0))
        };
        if limit == 0 {
            return Vec::new();
        }
        if all.len() > limit {
            all.select_nth_unstable_by(limit - 1, order);
            all.truncate(limit);
        }
        all.sort_unstable_by(order);
        all.into_iter()
            .map(|(r, c)| RoomCounts::new(r, c))
            .collect()
    }

    /// Number of rooms with at least one live session.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Number of open sockets (carriers and subscribers).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_live(&self, session: &str) -> bool {
        self.sessions.contains_key(session)
    }

    /// The room a live session is in.
    pub fn session_room(&self, session: &str) -> Option<&str> {
        self.sessions.get(session).map(|s| s.room.as_str())
    }

    // ----- HTTP pings -----

    /// Applies a ping and answers the counts of the site and of the ping's room.
    pub fn ping(
        &mut self,
        now: Millis,
        session: &str,
        room: &str,
        visitor: VisitorKey,
        event: Event,
    ) -> Result<Snapshot, Refusal> {
        self.ping_as(now, session, room, visitor, event, None)
    }

    /// A ping that may carry an entity (its track token checked by the edge). Without one, a
    /// session keeps the entity it already carries.
    pub fn ping_as(
        &mut self,
        now: Millis,
        session: &str,
        room: &str,
        visitor: VisitorKey,
        event: Event,
        entity: Option<&str>,
    ) -> Result<Snapshot, Refusal> {
        match event {
            Event::Join | Event::Heartbeat => {
                self.admit(session)?;
                self.hold(now, session, room, visitor, entity);
            }
            Event::Leave => {
                if self.sessions.contains_key(session) {
                    self.end_session(session, now, now);
                }
            }
        }
        let mut snap = self.snapshot(Some(room));
        if let (Some(r), Some(placed)) = (snap.room.as_mut(), self.session_room(session)) {
            if placed != room {
                let c = self
                    .rooms
                    .get(placed)
                    .map(Tally::counts)
                    .unwrap_or_default();
                r.sessions = c.sessions;
                r.visitors = c.visitors;
                r.grouped_as = Some(placed.to_owned());
            }
        }
        Ok(snap)
    }

    /// Refuses a new session past the ceiling; a known session is always admitted.
    fn admit(&self, session: &str) -> Result<(), Refusal> {
        if !self.sessions.contains_key(session)
            && self.sessions.len() >= self.cfg.limits.max_sessions
        {
            return Err(Refusal::SiteFull);
        }
        Ok(())
    }

    /// The room a session is counted in: its own, or the overflow group once the site has
    /// `max_rooms` rooms.
    fn place<'a>(&self, room: &'a str) -> &'a str {
        if self.rooms.contains_key(room) || self.rooms.len() < self.cfg.limits.max_rooms {
            room
        } else {
            OVERFLOW_ROOM
        }
    }

    /// Gives `session` an HTTP hold of one `ttl`, joining or moving it as needed.
    fn hold(
        &mut self,
        now: Millis,
        session: &str,
        room: &str,
        visitor: VisitorKey,
        entity: Option<&str>,
    ) {
        let until = now + self.cfg.ttl_ms;
        self.upsert_session(now, session, room, visitor, entity);
        if let Some(s) = self.sessions.get_mut(session) {
            if let Some(old) = s.http_until.replace(until) {
                self.http_deadlines.remove(&(old, session.to_owned()));
            }
            self.http_deadlines.insert((until, session.to_owned()));
        }
    }

    /// Makes `session` live in `room` with `visitor` (and `entity`, when given): a join when
    /// it is new, a move when the room, visitor or entity changed, a confirmation when it was
    /// restored, and a mere sign of life otherwise.
    fn upsert_session(
        &mut self,
        now: Millis,
        session: &str,
        room: &str,
        visitor: VisitorKey,
        entity: Option<&str>,
    ) {
        let placed = match self.sessions.get(session) {
            Some(s) if s.room == room => room,
            Some(s) if s.room == OVERFLOW_ROOM && self.place(room) == OVERFLOW_ROOM => {
                OVERFLOW_ROOM
            }
            _ => self.place(room),
        };
        let room = placed;
        match self.sessions.get_mut(session) {
            Some(s) => {
                let entity_changed = entity.is_some_and(|e| s.entity.as_deref() != Some(e));
                if s.room == room && s.visitor == visitor && !entity_changed {
                    if s.restored {
                        s.restored = false;
                        self.writes.push(Write::Confirm {
                            session: session.to_owned(),
                        });
                    }
                    if let Some(e) = &s.entity {
                        self.entities.seen(e, now);
                    }
                    return;
                }
                let old_room = std::mem::replace(&mut s.room, room.to_owned());
                let old_visitor = std::mem::replace(&mut s.visitor, visitor);
                s.restored = false;
                let joined_at = s.joined_at;
                if entity_changed {
                    let old = std::mem::replace(&mut s.entity, entity.map(str::to_owned));
                    if let Some(old) = old {
                        self.entities.session_ended(&old, now, now);
                    }
                    if let Some(e) = entity {
                        self.entities.session_started(e, now, true);
                    }
                } else if let Some(e) = &s.entity {
                    self.entities.seen(e, now);
                }
                let entity = s.entity.clone();
                if old_room != room || old_visitor != visitor {
                    self.untally(&old_room, old_visitor);
                    self.tally(room, visitor);
                }
                self.writes.push(Write::Upsert {
                    session: session.to_owned(),
                    room: room.to_owned(),
                    visitor,
                    entity,
                    joined_at,
                });
            }
            None => {
                self.sessions.insert(
                    session.to_owned(),
                    Session {
                        room: room.to_owned(),
                        visitor,
                        entity: entity.map(str::to_owned),
                        joined_at: now,
                        http_until: None,
                        sockets: 0,
                        restored: false,
                    },
                );
                if let Some(e) = entity {
                    self.entities.session_started(e, now, true);
                }
                self.tally(room, visitor);
                self.writes.push(Write::Upsert {
                    session: session.to_owned(),
                    room: room.to_owned(),
                    visitor,
                    entity: entity.map(str::to_owned),
                    joined_at: now,
                });
            }
        }
    }

    fn tally(&mut self, room: &str, visitor: VisitorKey) {
        self.site.add(visitor);
        self.rooms.entry(room.to_owned()).or_default().add(visitor);
        self.dirty = true;
    }

    fn untally(&mut self, room: &str, visitor: VisitorKey) {
        self.site.remove(visitor);
        if let Some(t) = self.rooms.get_mut(room) {
            t.remove(visitor);
            if t.sessions == 0 {
                self.rooms.remove(room);
            }
        }
        self.dirty = true;
    }

    /// Ends a session for good at `now` (its last sign of life at `last_seen`): its HTTP hold
    /// goes, sockets that carried it become plain subscribers, and storage forgets it.
    fn end_session(&mut self, session: &str, now: Millis, last_seen: Millis) {
        let Some(s) = self.sessions.remove(session) else {
            return;
        };
        if let Some(e) = &s.entity {
            self.entities.session_ended(e, now, last_seen);
        }
        if let Some(until) = s.http_until {
            self.http_deadlines.remove(&(until, session.to_owned()));
        }
        if s.sockets > 0 {
            for sock in self.sockets.values_mut() {
                if sock.session.as_deref() == Some(session) {
                    sock.session = None;
                }
            }
        }
        self.untally(&s.room, s.visitor);
        self.writes.push(Write::Delete {
            session: session.to_owned(),
        });
    }

    // ----- sockets -----

    /// A socket was accepted. Answers the snapshot to send it at once (which counts as its
    /// message for this broadcast interval).
    pub fn socket_open(&mut self, now: Millis, spec: SocketSpec) -> Result<Snapshot, Refusal> {
        if self.sockets.len() >= self.cfg.limits.max_sockets {
            return Err(Refusal::TooManySockets);
        }
        if let Some(ss) = &spec.session {
            self.admit(&ss.session)?;
        }
        let id = spec.id;
        let view = spec.view.clone();
        self.add_socket(now, spec, false);
        let snap = self.snapshot(view.as_deref());
        if let Some(s) = self.sockets.get_mut(&id) {
            s.last_sent_at = Some(now);
            s.last_sent = Some(View {
                site: snap.site,
                room: snap.room.as_ref().map(|r| Counts {
                    sessions: r.sessions,
                    visitors: r.visitors,
                }),
            });
        }
        Ok(snap)
    }

    fn add_socket(&mut self, now: Millis, spec: SocketSpec, restoring: bool) {
        if self.sockets.contains_key(&spec.id) {
            self.remove_socket(spec.id, now, now);
        }
        let session = spec.session.map(|ss| {
            if restoring {
                self.restore_socket_session(now, &ss);
            } else {
                self.upsert_session(now, &ss.session, &ss.room, ss.visitor, ss.entity.as_deref());
            }
            if let Some(s) = self.sessions.get_mut(&ss.session) {
                s.sockets += 1;
            }
            ss.session
        });
        let idle = if session.is_some() {
            self.cfg.ttl_ms
        } else {
            self.cfg.subscriber_idle_ms()
        };
        let deadline = spec.seen_at.saturating_add(idle);
        self.socket_deadlines.insert((deadline, spec.id));
        self.views
            .entry(spec.view.clone())
            .or_default()
            .insert(spec.id);
        for e in &spec.watch {
            self.watchers.entry(e.clone()).or_default().insert(spec.id);
        }
        self.sockets.insert(
            spec.id,
            Socket {
                session,
                view: spec.view,
                watch: spec.watch,
                deadline,
                last_sent_at: None,
                last_sent: None,
            },
        );
    }

    /// A socket's session after a restart: the socket proves it is live, so it needs no
    /// HTTP hold, and a session storage lost is written again.
    fn restore_socket_session(&mut self, now: Millis, ss: &SocketSession) {
        match self.sessions.get_mut(&ss.session) {
            Some(s) => {
                s.restored = false;
                if let Some(until) = s.http_until.take() {
                    self.http_deadlines.remove(&(until, ss.session.clone()));
                }
                if s.room != ss.room || s.visitor != ss.visitor || s.entity != ss.entity {
                    let entity = ss.entity.as_deref();
                    self.upsert_session(now, &ss.session, &ss.room, ss.visitor, entity);
                }
            }
            None => {
                let entity = ss.entity.as_deref();
                self.upsert_session(now, &ss.session, &ss.room, ss.visitor, entity)
            }
        }
    }

    /// A sign of life from a socket (a ping the runtime answered, or a message).
    pub fn socket_seen(&mut self, id: SocketId, at: Millis) {
        let idle = self.cfg.ttl_ms;
        let sub_idle = self.cfg.subscriber_idle_ms();
        if let Some(s) = self.sockets.get_mut(&id) {
            let deadline = at.saturating_add(if s.session.is_some() { idle } else { sub_idle });
            if deadline > s.deadline {
                self.socket_deadlines.remove(&(s.deadline, id));
                s.deadline = deadline;
                self.socket_deadlines.insert((deadline, id));
            }
            let entity = s
                .session
                .as_ref()
                .and_then(|name| self.sessions.get(name))
                .and_then(|sess| sess.entity.as_deref());
            if let Some(e) = entity {
                self.entities.seen(e, at);
            }
        }
    }

    /// A socket closed at `now` (cleanly or not). Its session ends unless something else
    /// holds it.
    pub fn socket_close(&mut self, now: Millis, id: SocketId) {
        self.remove_socket(id, now, now);
    }

    /// Removes a socket at `now`; its last sign of life was `last_seen`.
    fn remove_socket(&mut self, id: SocketId, now: Millis, last_seen: Millis) {
        let Some(sock) = self.sockets.remove(&id) else {
            return;
        };
        for e in &sock.watch {
            if let Some(set) = self.watchers.get_mut(e) {
                set.remove(&id);
                if set.is_empty() {
                    self.watchers.remove(e);
                }
            }
        }
        self.socket_deadlines.remove(&(sock.deadline, id));
        if let Some(set) = self.views.get_mut(&sock.view) {
            set.remove(&id);
            if set.is_empty() {
                self.views.remove(&sock.view);
            }
        }
        if let Some(name) = sock.session {
            let ended = match self.sessions.get_mut(&name) {
                Some(s) => {
                    s.sockets = s.sockets.saturating_sub(1);
                    s.sockets == 0 && s.http_until.is_none()
                }
                None => false,
            };
            if ended {
                self.end_session(&name, now, last_seen);
            }
        }
    }

    /// Session-carrying sockets whose silence deadline falls before `before`: the edge reads
    /// their last ping time and reports it with [`Presence::socket_seen`] before expiring.
    pub fn sockets_due(&self, before: Millis) -> Vec<SocketId> {
        self.socket_deadlines
            .iter()
            .take_while(|(d, _)| *d < before)
            .map(|(_, id)| *id)
            .collect()
    }

    // ----- time -----

    /// Ends what has gone silent by `now`; answers the sockets the edge must close.
    pub fn expire(&mut self, now: Millis) -> Vec<SocketId> {
        while let Some((until, name)) = self.http_deadlines.first().cloned() {
            if until > now {
                break;
            }
            self.http_deadlines.remove(&(until, name.clone()));
            let ended = match self.sessions.get_mut(&name) {
                Some(s) => {
                    s.http_until = None;
                    (s.sockets == 0).then_some(s.restored)
                }
                None => None,
            };
            if let Some(restored) = ended {
                // It ended when its hold ran out, however late the sweep runs; its last sign
                // of life was a ttl before that, unless the hold only came from a restart
                // (then the stored last-seen time stands).
                let last_seen = if restored {
                    0
                } else {
                    until.saturating_sub(self.cfg.ttl_ms)
                };
                self.end_session(&name, until, last_seen);
            }
        }
        let mut closed = Vec::new();
        while let Some(&(deadline, id)) = self.socket_deadlines.first() {
            if deadline > now {
                break;
            }
            let last_seen = deadline.saturating_sub(self.cfg.ttl_ms);
            self.remove_socket(id, deadline, last_seen);
            closed.push(id);
        }
        self.entities.expire(now);
        closed
    }

    /// The count messages due at `now`: each socket whose view changed gets one, unless it
    /// got one less than a broadcast interval ago (then it is sent when the interval ends).
    pub fn flush(&mut self, now: Millis) -> Vec<Broadcast> {
        if !self.dirty || now < self.next_flush_at {
            return Vec::new();
        }
        let interval = self.cfg.broadcast_interval_ms;
        let site = self.site.counts();
        let mut out = Vec::new();
        let mut pending: Option<Millis> = None;
        let mut sent_any = false;
        for (view_room, ids) in &self.views {
            let room = view_room
                .as_deref()
                .map(|r| self.rooms.get(r).map(Tally::counts).unwrap_or_default());
            let view = View { site, room };
            let mut targets = Vec::new();
            for id in ids {
                let Some(sock) = self.sockets.get_mut(id) else {
                    continue;
                };
                if sock.last_sent == Some(view) {
                    continue;
                }
                if let Some(t) = sock.last_sent_at {
                    let ready = t + interval;
                    if now < ready {
                        pending = Some(pending.map_or(ready, |p| p.min(ready)));
                        continue;
                    }
                }
                sock.last_sent = Some(view);
                sock.last_sent_at = Some(now);
                targets.push(*id);
            }
            if !targets.is_empty() {
                sent_any = true;
                targets.sort_unstable();
                out.push(Broadcast {
                    sockets: targets,
                    site,
                    room: view_room
                        .as_deref()
                        .zip(room)
                        .map(|(r, c)| RoomCounts::new(r, c)),
                });
            }
        }
        self.dirty = pending.is_some();
        self.next_flush_at = match (pending, sent_any) {
            (Some(p), true) => p.min(now + interval),
            (Some(p), false) => p,
            (None, true) => now + interval,
            (None, false) => 0,
        };
        out
    }

    /// When the edge must wake up next: the earliest expiry or pending broadcast.
    pub fn next_wake(&self) -> Option<Millis> {
        let http = self.http_deadlines.first().map(|(t, _)| *t);
        let sock = self.socket_deadlines.first().map(|(t, _)| *t);
        let flush = self.dirty.then_some(self.next_flush_at);
        let grace = self.entities.next_wake();
        [http, sock, flush, grace].into_iter().flatten().min()
    }

    /// Storage changes since the last call, in order.
    pub fn take_writes(&mut self) -> Vec<Write> {
        let mut writes = std::mem::take(&mut self.writes);
        writes.extend(
            self.entities
                .take_seen_writes()
                .into_iter()
                .map(|s| Write::EntitySeen {
                    entity: s.entity,
                    last_seen: s.last_seen,
                }),
        );
        writes
    }

    /// Status messages due: each entity whose visible status changed, to its watchers.
    pub fn take_status(&mut self) -> Vec<StatusBroadcast> {
        self.entities
            .take_changes()
            .into_iter()
            .filter_map(|(entity, status)| {
                let mut sockets: Vec<SocketId> =
                    self.watchers.get(&entity)?.iter().copied().collect();
                sockets.sort_unstable();
                Some(StatusBroadcast {
                    sockets,
                    entity,
                    status,
                })
            })
            .collect()
    }

    /// The status of an entity online or in its grace; `None` when offline (its last-seen
    /// time is then in storage).
    pub fn entity_status(&self, entity: &str) -> Option<EntityStatus> {
        self.entities.status(entity)
    }

    // ----- restarts -----

    /// Rebuilds the state after the object restarted: stored sessions count again for one
    /// `ttl` (unless they were already restored once without a sign of life since), and open
    /// sockets come back from their attachments.
    pub fn restore(&mut self, now: Millis, rows: Vec<StoredSession>, sockets: Vec<SocketSpec>) {
        let ttl = self.cfg.ttl_ms;
        let mut marked = Vec::new();
        for row in rows {
            let until = row.restored_at.unwrap_or(now).saturating_add(ttl);
            if until <= now {
                self.writes.push(Write::Delete {
                    session: row.session,
                });
                continue;
            }
            if row.restored_at.is_none() {
                marked.push(row.session.clone());
            }
            self.tally(&row.room, row.visitor);
            if let Some(e) = &row.entity {
                let seen = row.entity_last_seen.unwrap_or(row.joined_at);
                self.entities.session_restored(e, seen);
            }
            self.http_deadlines.insert((until, row.session.clone()));
            self.sessions.insert(
                row.session,
                Session {
                    room: row.room,
                    visitor: row.visitor,
                    entity: row.entity,
                    joined_at: row.joined_at,
                    http_until: Some(until),
                    sockets: 0,
                    restored: true,
                },
            );
        }
        for spec in sockets {
            if let Some(ss) = &spec.session {
                marked.retain(|m| *m != ss.session);
            }
            self.add_socket(now, spec, true);
        }
        if !marked.is_empty() {
            self.writes.push(Write::MarkRestored {
                at: now,
                sessions: marked,
            });
        }
        // Whatever the sockets last received is unknown: the next change goes to all, and
        // watchers learn statuses from their snapshot on reconnect.
        self.dirty = false;
        self.next_flush_at = 0;
        self.entities.take_changes();
    }

    /// Counts recomputed from the sessions alone; equal to the tallies at all times.
    pub fn recount(&self) -> (Counts, Vec<RoomCounts>) {
        let mut site = Tally::default();
        let mut rooms: HashMap<&str, Tally> = HashMap::new();
        for s in self.sessions.values() {
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
        let mut list: Vec<RoomCounts> = self
            .rooms
            .iter()
            .map(|(r, t)| RoomCounts::new(r, t.counts()))
            .collect();
        list.sort_by(|a, b| a.room.cmp(&b.room));
        (self.site.counts(), list)
    }
}

#[cfg(test)]
#[path = "presence_tests.rs"]
mod tests;
