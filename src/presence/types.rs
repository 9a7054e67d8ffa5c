//! The words of the presence core: times, ids, counts, ceilings, settings, and the shapes in
//! which sessions and sockets enter it.

use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use crate::api::words::schema as words;

/// Epoch milliseconds.
pub type Millis = u64;

/// Identifies one socket for the life of its connection; assigned by the edge.
pub type SocketId = u64;

/// A plain subscriber socket that never pings is closed after this long without a sign of
/// life (or 20 `ttl`s, whichever is longer). It does not count, so this only frees its slot.
pub const SUBSCRIBER_IDLE_MIN_MS: Millis = 10 * 60 * 1000;

/// The most signals one session holds at once.
pub const MAX_SIGNALS: usize = 10;
/// The most new signals one session may begin in any second.
pub const MAX_NEW_SIGNALS_PER_SECOND: usize = 2;

/// Why a signal was refused past the limits.
pub const TOO_MANY_SIGNALS: &str =
    "At most 10 signals at once, and 2 new ones a second, per session.";
/// Why a signal was refused as malformed.
pub const BAD_SIGNAL: &str = "A signal is sent by a tracked entity session (with its track token) \
     and named by 1-32 characters of a-z 0-9 _ -.";

/// Whether `name` may name a signal: 1-32 characters of `a-z 0-9 _ -`.
pub fn valid_signal(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The largest message a socket may send (clients send `ping`); a larger one closes it (1009).
pub const MAX_SOCKET_MESSAGE_BYTES: usize = 1024;

/// The most members one members answer lists (then `"truncated": true`).
pub const MAX_MEMBERS: usize = 1_000;

/// Where sessions go once a site has `max_rooms` rooms: counted, listed, never dropped.
pub const OVERFLOW_ROOM: &str = "~other";

/// A visitor, hashed by the edge before it reaches the core (never the raw id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitorKey(pub u64);

/// A client address (the request's `CF-Connecting-IP`, an IPv6 address by its /64), hashed by
/// the edge before it reaches the core. [`AddressKey::UNKNOWN`]: a session restored from
/// storage that has not been seen since (its address was never stored); it counts under no
/// address until its next sign of life says one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey(pub u64);

impl AddressKey {
    pub const UNKNOWN: AddressKey = AddressKey(0);
}

/// Live sessions, and the distinct visitors among them (`visitors` <= `sessions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields, example = Counts { sessions: 42, visitors: 40 })
)]
pub struct Counts {
    pub sessions: u32,
    pub visitors: u32,
}

/// One room's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        example = RoomCounts::new("/pricing", Counts { sessions: 7, visitors: 7 })
    )
)]
pub struct RoomCounts {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::Room"))]
    pub room: String,
    pub sessions: u32,
    pub visitors: u32,
    /// Set when the site had too many rooms and this one is counted in the overflow group
    /// (only in a ping's answer: its schema is [`PingRoomCounts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(skip))]
    pub grouped_as: Option<String>,
}

/// The schema of a ping answer's room: [`RoomCounts`] with `grouped_as` (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub struct PingRoomCounts;

#[cfg(not(target_arch = "wasm32"))]
impl schemars::JsonSchema for PingRoomCounts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PingRoomCounts".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = RoomCounts::json_schema(generator);
        schema.remove("examples");
        schema.insert(
            "description".into(),
            format!(
                "The counts of the ping's room. When the site's room ceiling (`MAX_ROOMS`) put \
                 the session in the overflow room, `grouped_as` is `{OVERFLOW_ROOM}` and the \
                 counts are that room's."
            )
            .into(),
        );
        if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            properties.insert(
                "grouped_as".into(),
                serde_json::json!({ "const": OVERFLOW_ROOM }),
            );
        }
        schema
    }
}

impl RoomCounts {
    pub fn new(room: &str, c: Counts) -> Self {
        RoomCounts {
            room: room.to_owned(),
            sessions: c.sessions,
            visitors: c.visitors,
            grouped_as: None,
        }
    }
}

/// Site counts plus, when asked for, one room's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub site: Counts,
    pub room: Option<RoomCounts>,
}

/// Hard ceilings per site, so no one can exhaust a site's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live sessions; a new one past this is refused (`site_full`).
    pub max_sessions: usize,
    /// Rooms; sessions in further rooms are counted in [`OVERFLOW_ROOM`].
    pub max_rooms: usize,
    /// Open sockets; the platform allows 32,768 per object (`too_many_sockets`).
    pub max_sockets: usize,
    /// Live sessions of one client address (`too_many_from_address`).
    pub max_sessions_per_address: usize,
    /// Open sockets of one client address (`too_many_from_address`).
    pub max_sockets_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 100_000,
            max_rooms: 1_000,
            max_sockets: 30_000,
            max_sessions_per_address: 64,
            max_sockets_per_address: 128,
        }
    }
}

/// The settings of one site's presence (from the Worker's vars, see `config.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How often clients heartbeat; told to every socket in its first message.
    pub heartbeat_ms: Millis,
    /// A session with no sign of life for this long is gone.
    pub ttl_ms: Millis,
    /// At most one count message per socket per interval.
    pub broadcast_interval_ms: Millis,
    /// How long an entity stays online after its last session ended.
    pub leave_grace_ms: Millis,
    /// How long a hidden (away) session of an entity lives without a sign of life (background
    /// tabs are throttled to about one timer a minute).
    pub away_ttl_ms: Millis,
    /// How long a signal (`typing`) lasts unless sent again or ended.
    pub signal_ttl_ms: Millis,
    /// Whether the object that keeps the site keeps its history (a shard never does).
    pub history: bool,
    pub limits: Limits,
}

impl Default for Config {
    /// The contract's defaults.
    fn default() -> Self {
        Config {
            heartbeat_ms: 15_000,
            ttl_ms: 45_000,
            broadcast_interval_ms: 500,
            leave_grace_ms: 3_000,
            away_ttl_ms: 300_000,
            signal_ttl_ms: 5_000,
            history: true,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// How long a socket may stay silent: a session carrier one `ttl` (or the away ttl while
    /// its session is away), a plain subscriber much longer (it counts nothing; this only frees
    /// its slot).
    pub(crate) fn idle_ms(&self, session: Option<Visibility>) -> Millis {
        match session {
            Some(Visibility::Visible) => self.ttl_ms,
            Some(Visibility::Away) => self.away_ttl_ms.max(self.ttl_ms),
            None => SUBSCRIBER_IDLE_MIN_MS.max(self.ttl_ms.saturating_mul(20)),
        }
    }

    /// How long an HTTP hold lasts for a session that is visible or away.
    pub(crate) fn hold_ms(&self, v: Visibility) -> Millis {
        match v {
            Visibility::Visible => self.ttl_ms,
            Visibility::Away => self.away_ttl_ms.max(self.ttl_ms),
        }
    }
}

/// Why the core refused a new session or socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    SiteFull,
    TooManySockets,
    /// The client address holds as many sessions (or sockets) as it may.
    TooManyFromAddress,
    /// The session carries an entity, and the ping or socket does not carry a valid track
    /// token for it.
    NotYours,
    /// A signal from a session that carries no entity, or a signal name that is not one.
    BadSignal,
    /// Past a session's signal limits (10 at once, 2 new ones a second).
    TooManySignals,
}

/// What a client said in a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Join,
    Heartbeat,
    Leave,
    /// The page was hidden: a session carrying an entity stays as away; any other ends.
    Away,
    /// A signal of the session's entity (`typing`) begins or is renewed...
    Signal,
    /// ...or ends.
    SignalEnd,
}

/// Whether a session's page is shown. Away sessions count in no site or room count; they keep
/// their entity away (not offline) until they come back, end, or fall silent for the away ttl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Visible,
    Away,
}

/// One HTTP ping, validated by the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping<'a> {
    pub session: &'a str,
    pub room: &'a str,
    pub visitor: VisitorKey,
    pub address: AddressKey,
    pub event: Event,
    /// The entity the session carries from now on (its track token was checked by the edge).
    /// `None` keeps the entity the session already carries.
    pub entity: Option<&'a str>,
    /// The member info of that entity, from its track token (a JSON object).
    pub info: Option<&'a str>,
    /// The signal of a `Signal` or `SignalEnd` event.
    pub signal: Option<&'a str>,
}

/// A message a socket sent (after the runtime's own `ping` -> `pong` auto-response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    Binary(usize),
    /// `token <jwt>`, as the edge judged it: the socket's rights extend until then (`exp` and
    /// the leeway), or the renewal is refused, with why.
    Token(Result<Millis, &'static str>),
}

impl Incoming<'_> {
    pub fn len(&self) -> usize {
        match self {
            Incoming::Text(t) => t.len(),
            Incoming::Binary(n) => *n,
            Incoming::Token(_) => 0,
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a socket ended, from the close code the client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// 1000 or 1001: the client meant it (a tab closed, a page left). Its session ends at once,
    /// even if it also held an HTTP heartbeat.
    Clean,
    /// Anything else (1006, an error): the connection broke. An HTTP hold, if any, runs out.
    Abnormal,
}

impl Closed {
    pub fn from_code(code: u16) -> Closed {
        match code {
            1000 | 1001 => Closed::Clean,
            _ => Closed::Abnormal,
        }
    }
}

/// What storage keeps of an entity that is not online.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredEntity {
    pub last_seen: Option<Millis>,
    pub info: Option<String>,
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
    /// The session's page was hidden (only sessions with an entity stay away).
    pub away: bool,
    /// The member info the session's token carried.
    pub info: Option<String>,
    /// When the entity's current online period began, as stored.
    pub entity_online_since: Option<Millis>,
}

/// The session a socket carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSession {
    pub session: String,
    pub visitor: VisitorKey,
    pub room: String,
    /// The entity the session carries (its track token was checked by the edge).
    pub entity: Option<String>,
    /// The member info of that entity, from its track token.
    pub info: Option<String>,
    /// Away since its page was hidden (remembered through hibernation).
    pub away: bool,
}

/// A socket as the edge knows it (from the upgrade request, or from its attachment after the
/// object restarted or woke from hibernation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketSpec {
    pub id: SocketId,
    /// The client address that opened it.
    pub address: AddressKey,
    /// The session this socket carries, if any.
    pub session: Option<SocketSession>,
    /// The room whose counts this socket receives besides the site's, if it named one.
    pub view: Option<String>,
    /// Entities whose status this socket receives (its watch token was checked by the edge).
    pub watch: Vec<String>,
    /// The room whose members this socket receives (its watch token allows it).
    pub members: Option<String>,
    /// The last sign of life known (connection time, or the last ping the runtime answered).
    pub seen_at: Millis,
    /// When the rights of the token it was opened with end (`exp` and the leeway), if any.
    pub token_until: Option<Millis>,
}
