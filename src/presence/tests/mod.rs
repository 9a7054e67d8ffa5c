//! Native tests of the presence core: expiry, room moves, visitor dedupe, sockets, the
//! broadcast throttle, restore, and invariants under random event sequences. Each test drives
//! the core through its inputs and reads what it answers from `poll`, as the edge does.

use super::local::SILENT_REASON;
use super::messages::MembersList;
use super::*;

mod away;
mod broadcast;
mod ceilings;
mod entities;
mod expiry;
mod hostile;
mod invariants;
mod keeper;
mod restore;
mod sessions;
mod shards;
mod signals;
mod sockets;

const TTL: Millis = 45_000;
const INTERVAL: Millis = 500;
const GRACE: Millis = 3_000;
const HEARTBEAT: Millis = 15_000;
const AWAY_TTL: Millis = 300_000;
const SIGNAL_TTL: Millis = 5_000;

fn core() -> Presence {
    small(
        Limits::default().max_sessions,
        Limits::default().max_rooms,
        Limits::default().max_sockets,
    )
}

fn small(max_sessions: usize, max_rooms: usize, max_sockets: usize) -> Presence {
    Presence::new(Config {
        heartbeat_ms: HEARTBEAT,
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        away_ttl_ms: AWAY_TTL,
        signal_ttl_ms: SIGNAL_TTL,
        // its own tests below; here its minute wakes would only blur the timers under test
        history: false,
        limits: Limits {
            max_sessions,
            max_rooms,
            max_sockets,
            ..Limits::default()
        },
    })
}

fn v(n: u64) -> VisitorKey {
    VisitorKey(n)
}

fn counts(sessions: u32, visitors: u32) -> Counts {
    Counts { sessions, visitors }
}

/// The client address of a visitor in these tests: each browser its own network.
fn address_of(visitor: VisitorKey) -> AddressKey {
    AddressKey(visitor.0.wrapping_add(1_000_000))
}

// ----- driving the core as the edge does -----

fn ping(
    p: &mut Presence,
    now: Millis,
    session: &str,
    room: &str,
    visitor: VisitorKey,
    event: Event,
) -> Result<Snapshot, Refusal> {
    ping_as(p, now, session, room, visitor, event, None)
}

fn ping_as(
    p: &mut Presence,
    now: Millis,
    session: &str,
    room: &str,
    visitor: VisitorKey,
    event: Event,
    entity: Option<&str>,
) -> Result<Snapshot, Refusal> {
    p.ping(
        now,
        Ping {
            session,
            room,
            visitor,
            address: address_of(visitor),
            event,
            entity,
            info: None,
            signal: None,
        },
    )
}

fn open(p: &mut Presence, now: Millis, spec: SocketSpec) -> Result<(), Refusal> {
    p.socket_open(now, spec, |_| StoredEntity::default())
}

fn close(p: &mut Presence, now: Millis, id: SocketId) {
    p.socket_closed(now, id, Closed::Clean)
}

/// The alarm at `now` with no runtime record of pongs; answers its effects.
fn alarm(p: &mut Presence, now: Millis) -> Effects {
    p.alarm(now, |_| None);
    p.poll(now)
}

/// The sockets the effects close.
fn closed(fx: &Effects) -> Vec<SocketId> {
    fx.closes.iter().map(|c| c.socket).collect()
}

/// A throttled count message: its sockets, site counts and room.
#[derive(Debug)]
struct Broadcast {
    sockets: Vec<SocketId>,
    site: Counts,
    room: Option<RoomCounts>,
}

/// The throttled count messages of the effects (not the first message of a new socket).
fn broadcasts(fx: &Effects) -> Vec<Broadcast> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Count {
                site,
                room,
                timing: None,
            } => Some(Broadcast {
                sockets: s.to.clone(),
                site: *site,
                room: room.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The status messages of the effects: (entity, online, sessions, sockets).
fn statuses(fx: &Effects) -> Vec<(String, bool, u32, Vec<SocketId>)> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Status { entity, status } => Some((
                entity.clone(),
                status.online(),
                status.sessions,
                s.to.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn carrier(id: SocketId, session: &str, visitor: u64, room: &str, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: Some(SocketSession {
            session: session.into(),
            visitor: v(visitor),
            room: room.into(),
            entity: None,
            info: None,
            away: false,
        }),
        view: Some(room.into()),
        watch: vec![],
        members: None,
        seen_at: at,
        address: address_of(v(visitor)),
        token_until: None,
    }
}

fn subscriber(id: SocketId, view: Option<&str>, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: view.map(Into::into),
        watch: vec![],
        members: None,
        seen_at: at,
        address: AddressKey(id + 1),
        token_until: None,
    }
}

fn assert_consistent(p: &Presence) {
    assert_eq!(p.tallies(), p.recount(), "tallies drifted from a recount");
    let (site, rooms) = p.tallies();
    assert!(site.visitors <= site.sessions);
    for r in rooms {
        assert!(r.sessions >= 1, "an empty room is listed: {r:?}");
        assert!(r.visitors <= r.sessions);
    }
}

fn carrier_as(id: SocketId, session: &str, entity: &str, at: Millis) -> SocketSpec {
    let mut spec = carrier(id, session, 1, "/", at);
    if let Some(s) = spec.session.as_mut() {
        s.entity = Some(entity.into());
    }
    spec
}

fn watcher(id: SocketId, entities: &[&str], at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: None,
        watch: entities.iter().map(|e| e.to_string()).collect(),
        members: None,
        seen_at: at,
        address: AddressKey(id + 1),
        token_until: None,
    }
}

fn row(id: &str, room: &str, visitor: u64, restored_at: Option<Millis>) -> StoredSession {
    StoredSession {
        session: id.into(),
        room: room.into(),
        visitor: v(visitor),
        entity: None,
        entity_last_seen: None,
        joined_at: 0,
        restored_at,
        away: false,
        info: None,
        entity_online_since: None,
    }
}

fn p_config() -> Config {
    Config {
        heartbeat_ms: HEARTBEAT,
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        away_ttl_ms: AWAY_TTL,
        signal_ttl_ms: SIGNAL_TTL,
        history: false,
        limits: Limits::default(),
    }
}

/// xorshift64*: a tiny deterministic generator, so failures replay from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn members_watcher(id: SocketId, room: &str, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: None,
        watch: vec![],
        members: Some(room.into()),
        seen_at: at,
        address: AddressKey(id + 1),
        token_until: None,
    }
}

/// A members message: its sockets, `(entity, state, sessions)` of each member, anonymous.
type MembersSent = (Vec<SocketId>, Vec<(String, State, u32)>, Counts);

/// The members messages of the effects.
fn members_of(fx: &Effects) -> Vec<MembersSent> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Members(MembersList {
                members, anonymous, ..
            }) => Some((
                s.to.clone(),
                members
                    .iter()
                    .map(|m| (m.entity.to_string(), m.state, m.sessions))
                    .collect(),
                *anonymous,
            )),
            _ => None,
        })
        .collect()
}
