//! The public HTTP API: where a ping or a query is parsed and validated, into the typed
//! requests the Worker hands to a site's object. No I/O, no `worker::` types.
//!
//! - [`error`]: the contract's error codes and their JSON;
//! - [`query`]: query strings; [`headers`]: the headers the API reads;
//! - [`call`]: the one typed value the Worker sends the object.

pub mod answers;
pub mod badge;
pub mod call;
pub mod copies;
pub mod error;
pub mod headers;
pub mod query;
pub mod routes;
pub mod words;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::presence::Event;

pub use call::SiteCall;
pub use error::{Allow, ApiError, ErrorCode};
pub use query::Query;

/// A ping body may be at most this many bytes...
pub const MAX_PING_BYTES: usize = 1024;
/// ...or this many when it carries a track token (a token may be 4 KiB: an entity's session is
/// touched only with its token, so every ping of such a page carries it).
pub const MAX_PING_WITH_TOKEN_BYTES: usize = 6 * 1024;
/// `GET /v1/rooms` answers this many rooms unless `limit` says otherwise.
pub const DEFAULT_ROOMS_LIMIT: usize = 20;
/// A larger `limit` is clamped to this.
pub const MAX_ROOMS_LIMIT: usize = 1000;
/// The room of a session that names none.
pub const DEFAULT_ROOM: &str = "/";
/// `GET /v1/history` answers this range unless `range` says otherwise.
pub const DEFAULT_HISTORY_RANGE: crate::presence::history::Range =
    crate::presence::history::Range::Hour;

// ----- field rules (the words' rules are in `words.rs`) -----

fn valid_site(s: &str) -> bool {
    words::SITE.allows(s)
}

fn valid_id(s: &str) -> bool {
    words::ID.allows(s)
}

fn valid_entity(s: &str) -> bool {
    words::ENTITY.allows(s)
}

fn valid_room(s: &str) -> bool {
    words::is_room(s)
}

/// A site key, checked.
pub fn parse_site(s: Option<&str>) -> Result<String, ApiError> {
    match s {
        None => Err(ApiError::bad_request("The field \"site\" is required.")),
        Some(s) if valid_site(s) => Ok(s.to_owned()),
        Some(_) => Err(ApiError::bad_request(
            "\"site\" must be 1-64 characters of A-Z a-z 0-9 . _ : -.",
        )),
    }
}

/// A room, checked; `None` stays `None`.
pub fn parse_room(s: Option<&str>) -> Result<Option<String>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) if valid_room(s) => Ok(Some(s.to_owned())),
        Some(_) => Err(ApiError::bad_request(
            "\"room\" must be 1-256 characters without control characters.",
        )),
    }
}

/// A session or visitor id, checked.
pub fn parse_id(field: &str, s: Option<&str>) -> Result<Option<String>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) if valid_id(s) => Ok(Some(s.to_owned())),
        Some(_) => Err(ApiError::bad_request(format!(
            "\"{field}\" must be 8-64 characters of A-Z a-z 0-9 _ -."
        ))),
    }
}

/// An entity id, checked.
pub fn parse_entity(s: Option<&str>) -> Result<Option<String>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) if valid_entity(s) => Ok(Some(s.to_owned())),
        Some(_) => Err(ApiError::bad_request(
            "\"entity\" must be 1-128 characters of A-Z a-z 0-9 . _ : @ -.",
        )),
    }
}

/// Most entities one status request or socket may name.
pub const MAX_ENTITIES: usize = 100;

/// A comma-separated list of entity ids (1 to [`MAX_ENTITIES`], no repeats kept).
pub fn parse_entity_list(field: &str, s: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(s) = s else {
        return Err(ApiError::bad_request(format!(
            "The parameter \"{field}\" is required."
        )));
    };
    let mut out: Vec<String> = Vec::new();
    for part in s.split(',') {
        let e = parse_entity(Some(part.trim()))?.unwrap_or_default();
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.len() > MAX_ENTITIES {
        return Err(ApiError::bad_request(format!(
            "\"{field}\" may name at most {MAX_ENTITIES} entities."
        )));
    }
    Ok(out)
}

// ----- POST /v1/ping -----

/// A validated ping. Its schema (`PingRequest`) is the body's: what [`parse_ping`] accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        rename = "PingRequest",
        description = format!(
            "A ping: at most {} ({} when it carries a `token`) of UTF-8 JSON, one object \
             whose keys are unique (a repeated key is 400). A field that is `null` counts as \
             absent; other fields are ignored. `entity` and `token` go together: `token` alone \
             is 400, `entity` without a valid track token is 401 `bad_token`; every ping of a \
             session that carries an entity carries its token (else 401, nothing changes).",
            crate::openapi::text::size(MAX_PING_BYTES),
            crate::openapi::text::size(MAX_PING_WITH_TOKEN_BYTES)
        ),
        extend("dependentRequired" = { "token": ["entity"], "entity": ["token"] }),
        example = serde_json::json!({
            "site": "example.com",
            "room": "/pricing",
            "session": "s_7f3a9c1e",
            "visitor": "v_1b2c3d4e",
            "event": "join",
        })
    )
)]
pub struct Ping {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::schema::SiteKey"))]
    pub site: String,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "words::schema::Room", default = "default_room")
    )]
    pub room: String,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "words::schema::SessionId")
    )]
    pub session: String,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::schema::VisitorId>")
    )]
    pub visitor: Option<String>,
    pub event: PingEvent,
    /// The entity this session carries (needs a track `token` for it).
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::schema::EntityId>", !default)
    )]
    pub entity: Option<String>,
    /// A track token for `entity` (checked by the Worker; never forwarded).
    #[serde(default, skip_serializing)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            with = "Option<words::schema::Jwt>",
            description = format!(
                "A track token: claims `{{\"site\":S,\"sub\":<entity>,\"scope\":\"track\",\
                 \"exp\":..}}`, optionally `\"info\"`: a JSON object of at most {} serialized \
                 (member info, set by the site's back end). Only with `entity`.",
                crate::openapi::text::size(crate::token::MAX_INFO_BYTES)
            )
        )
    )]
    pub token: Option<String>,
    /// The entity's member info, a JSON object taken from the checked token by the Worker
    /// (never from the body: a browser cannot forge it).
    #[serde(default)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(skip))]
    pub info: Option<String>,
    /// The client address (`CF-Connecting-IP`, IPv6 by its /64), set by the Worker.
    #[serde(default)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(skip))]
    pub address: Option<String>,
    /// The signal of a `signal` or `signal_end` event (`typing`).
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::schema::Signal>", !default)
    )]
    pub signal: Option<String>,
}

/// The room of a ping that names none (the schema's `default`).
#[cfg(not(target_arch = "wasm32"))]
fn default_room() -> String {
    DEFAULT_ROOM.to_owned()
}

/// `join`; `heartbeat` (for an unknown session it is a join; it may carry a different `room`:
/// the tab navigated); `leave` (for an unknown session it changes nothing); `away` (the page was
/// hidden: the session stops counting at once; with an entity it stays that entity's session,
/// as away, until a `heartbeat` or `join` makes it visible, a `leave` ends it, or it is silent
/// for `AWAY_TTL_SECONDS`; without an entity it ends, as with `leave`); `signal` and
/// `signal_end` (a tracked entity session, with its track token, begins or renews, and ends, the
/// signal named in `signal`, e.g. `typing`: it lasts `SIGNAL_TTL_MS` unless sent again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum PingEvent {
    Join,
    Heartbeat,
    Leave,
    Away,
    Signal,
    SignalEnd,
}

impl From<PingEvent> for Event {
    fn from(e: PingEvent) -> Event {
        match e {
            PingEvent::Join => Event::Join,
            PingEvent::Heartbeat => Event::Heartbeat,
            PingEvent::Leave => Event::Leave,
            PingEvent::Away => Event::Away,
            PingEvent::Signal => Event::Signal,
            PingEvent::SignalEnd => Event::SignalEnd,
        }
    }
}

/// A JSON object whose keys are unique (serde_json alone keeps the last of a repeated key,
/// which would let two parties read one body differently).
struct StrictObject(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<StrictObject, A::Error> {
                let mut m = serde_json::Map::new();
                while let Some((k, v)) = a.next_entry::<String, serde_json::Value>()? {
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate field \"{k}\"")));
                    }
                    m.insert(k, v);
                }
                Ok(StrictObject(m))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// Parses and validates a ping body.
pub fn parse_ping(body: &[u8]) -> Result<Ping, ApiError> {
    let obj = ping_object(body)?;
    let string_field = |name: &str| -> Result<Option<&str>, ApiError> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::bad_request(format!(
                "\"{name}\" must be a string."
            ))),
        }
    };
    let site = parse_site(string_field("site")?)?;
    let room = parse_room(string_field("room")?)?.unwrap_or_else(|| DEFAULT_ROOM.to_owned());
    let session = parse_id("session", string_field("session")?)?
        .ok_or_else(|| ApiError::bad_request("The field \"session\" is required."))?;
    let visitor = parse_id("visitor", string_field("visitor")?)?;
    let event = ping_event(string_field("event")?)?;
    let entity = parse_entity(string_field("entity")?)?;
    let token = string_field("token")?.map(str::to_owned);
    if token.is_some() && entity.is_none() {
        return Err(ApiError::bad_request("\"token\" goes with \"entity\"."));
    }
    let signal = string_field("signal")?;
    check_signal(event, signal, token.is_some())?;
    Ok(Ping {
        site,
        room,
        session,
        visitor,
        event,
        entity,
        token,
        info: None,
        address: None,
        signal: signal.map(str::to_owned),
    })
}

/// A ping's body as a JSON object with no repeated key, within its size: 1 KiB, or more (up to
/// [`MAX_PING_WITH_TOKEN_BYTES`]) only when it carries a token.
fn ping_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if body.len() > MAX_PING_WITH_TOKEN_BYTES {
        return Err(ApiError::too_large());
    }
    // past 1 KiB only a ping that carries a token may be that large: anything else is 413
    let large = body.len() > MAX_PING_BYTES;
    let text = std::str::from_utf8(body).map_err(|_| {
        if large {
            ApiError::too_large()
        } else {
            ApiError::bad_request("The body must be UTF-8 JSON.")
        }
    })?;
    let parsed: Result<StrictObject, _> = serde_json::from_slice(text.as_bytes());
    if large
        && !parsed
            .as_ref()
            .is_ok_and(|o| o.0.get("token").is_some_and(|t| t.is_string()))
    {
        return Err(ApiError::too_large());
    }
    let StrictObject(obj) = parsed.map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix("duplicate field ") {
            Some(rest) => ApiError::bad_request(format!(
                "The field {} is given more than once.",
                rest.split(" at line").next().unwrap_or(rest)
            )),
            None => ApiError::bad_request("The body must be a JSON object."),
        }
    })?;
    Ok(obj)
}

/// A ping's `event`.
fn ping_event(event: Option<&str>) -> Result<PingEvent, ApiError> {
    match event {
        Some("join") => Ok(PingEvent::Join),
        Some("heartbeat") => Ok(PingEvent::Heartbeat),
        Some("leave") => Ok(PingEvent::Leave),
        Some("away") => Ok(PingEvent::Away),
        Some("signal") => Ok(PingEvent::Signal),
        Some("signal_end") => Ok(PingEvent::SignalEnd),
        Some(_) => Err(ApiError::bad_request(
            "\"event\" must be \"join\", \"heartbeat\", \"leave\", \"away\", \"signal\" or \"signal_end\".",
        )),
        None => Err(ApiError::bad_request("The field \"event\" is required.")),
    }
}

/// A ping's `signal`: with a signal event only, a valid name, from a tracked entity session.
fn check_signal(event: PingEvent, signal: Option<&str>, token: bool) -> Result<(), ApiError> {
    let signals = matches!(event, PingEvent::Signal | PingEvent::SignalEnd);
    let refusal = match signal {
        Some(_) if !signals => "\"signal\" goes with \"event\":\"signal\" or \"signal_end\".",
        None if signals => "The field \"signal\" is required with this event.",
        Some(name) if !crate::presence::valid_signal(name) => {
            "\"signal\" must be 1-32 characters of a-z 0-9 _ -."
        }
        _ if signals && !token => {
            "A signal is sent by a tracked entity session: give \"entity\" and its \"token\"."
        }
        _ => return Ok(()),
    };
    Err(ApiError::bad_request(refusal))
}

/// `GET /v1/count?site=S[&room=R]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountQuery {
    pub site: String,
    pub room: Option<String>,
}

pub fn parse_count(q: &Query) -> Result<CountQuery, ApiError> {
    Ok(CountQuery {
        site: parse_site(q.get("site"))?,
        room: parse_room(q.get("room"))?,
    })
}

/// `GET /v1/rooms?site=S[&limit=K]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsQuery {
    pub site: String,
    pub limit: usize,
}

pub fn parse_rooms(q: &Query) -> Result<RoomsQuery, ApiError> {
    let site = parse_site(q.get("site"))?;
    let limit = match q.get("limit") {
        None => DEFAULT_ROOMS_LIMIT,
        Some(s) => {
            // digits only, at least 1 (leading zeros are only zeros); past u64, the clamp
            let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let significant = s.trim_start_matches('0');
            if !digits_only || significant.is_empty() {
                return Err(ApiError::bad_request(
                    "\"limit\" must be a whole number of at least 1.",
                ));
            }
            significant
                .parse::<u64>()
                .map_or(MAX_ROOMS_LIMIT, |n| n.min(MAX_ROOMS_LIMIT as u64) as usize)
        }
    };
    Ok(RoomsQuery { site, limit })
}

/// `GET /v1/live?site=S[&room=R][&session=ID&visitor=ID]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveQuery {
    pub site: String,
    pub room: Option<String>,
    pub session: Option<String>,
    pub visitor: Option<String>,
    /// The entity the socket's session carries (with a track `token`).
    pub entity: Option<String>,
    /// Entities whose status the socket receives (with a watch `token`).
    #[serde(default)]
    pub watch: Vec<String>,
    /// The room whose members the socket receives (with a watch `token` whose `rooms` allow it).
    #[serde(default)]
    pub members: Option<String>,
    /// Checked by the Worker; never forwarded.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// The member info of `entity`, from its checked track token (set by the Worker).
    #[serde(default)]
    pub info: Option<String>,
    /// The client address (set by the Worker).
    #[serde(default)]
    pub address: Option<String>,
    /// What the socket's token grants, until when (set by the Worker when it has a token).
    #[serde(default)]
    pub grant: Option<crate::token::Grant>,
}

pub fn parse_live(q: &Query) -> Result<LiveQuery, ApiError> {
    let site = parse_site(q.get("site"))?;
    let room = parse_room(q.get("room"))?;
    let session = parse_id("session", q.get("session"))?;
    let visitor = parse_id("visitor", q.get("visitor"))?;
    if visitor.is_some() && session.is_none() {
        return Err(ApiError::bad_request(
            "\"visitor\" is only meaningful together with \"session\".",
        ));
    }
    let entity = parse_entity(q.get("entity"))?;
    if entity.is_some() && session.is_none() {
        return Err(ApiError::bad_request("\"entity\" goes with \"session\"."));
    }
    let watch = match q.get("watch") {
        Some(_) => parse_entity_list("watch", q.get("watch"))?,
        None => Vec::new(),
    };
    let members = match q.get("members") {
        Some(r) => Some(parse_room(Some(r))?.unwrap_or_default()),
        None => None,
    };
    if entity.is_some() && (!watch.is_empty() || members.is_some()) {
        return Err(ApiError::bad_request(
            "Carry an entity and watch entities or members on separate sockets.",
        ));
    }
    let token = q.get("token").map(str::to_owned);
    if token.is_some() && entity.is_none() && watch.is_empty() && members.is_none() {
        return Err(ApiError::bad_request(
            "\"token\" goes with \"entity\", \"watch\" or \"members\".",
        ));
    }
    Ok(LiveQuery {
        site,
        room,
        session,
        visitor,
        entity,
        watch,
        members,
        token,
        info: None,
        address: None,
        grant: None,
    })
}

/// `GET /v1/status?site=S&entity=A,B`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusQuery {
    pub site: String,
    pub entities: Vec<String>,
}

pub fn parse_status(q: &Query) -> Result<StatusQuery, ApiError> {
    Ok(StatusQuery {
        site: parse_site(q.get("site"))?,
        entities: parse_entity_list("entity", q.get("entity"))?,
    })
}

/// `GET /v1/history?site=S[&range=1h|24h|7d]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub site: String,
    /// `1h`, `24h` or `7d`.
    pub range: String,
}

pub fn parse_history(q: &Query) -> Result<HistoryQuery, ApiError> {
    let site = parse_site(q.get("site"))?;
    let range = q.get("range").unwrap_or(DEFAULT_HISTORY_RANGE.name());
    if crate::presence::history::Range::parse(range).is_none() {
        return Err(ApiError::bad_request(
            "\"range\" must be \"1h\", \"24h\" or \"7d\".",
        ));
    }
    Ok(HistoryQuery {
        site,
        range: range.to_owned(),
    })
}

/// `GET /v1/members?site=S&room=R`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersQuery {
    pub site: String,
    pub room: String,
    /// On a sharded site, the other objects' anonymous sessions in the room, asked by the
    /// Worker before it calls the coordinator (which adds its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards_anonymous: Option<crate::presence::Counts>,
}

pub fn parse_members(q: &Query) -> Result<MembersQuery, ApiError> {
    Ok(MembersQuery {
        site: parse_site(q.get("site"))?,
        room: parse_room(q.get("room"))?
            .ok_or_else(|| ApiError::bad_request("The parameter \"room\" is required."))?,
        shards_anonymous: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(body: &str) -> Result<Ping, ApiError> {
        parse_ping(body.as_bytes())
    }

    #[test]
    fn a_full_ping_parses() {
        let p = ping(r#"{"site":"example.com","room":"/pricing","session":"s_7f3a9c1e","visitor":"v_1b2c3d4e","event":"join"}"#).unwrap();
        assert_eq!(p.site, "example.com");
        assert_eq!(p.room, "/pricing");
        assert_eq!(p.session, "s_7f3a9c1e");
        assert_eq!(p.visitor.as_deref(), Some("v_1b2c3d4e"));
        assert_eq!(p.event, PingEvent::Join);
    }

    #[test]
    fn room_defaults_to_slash_and_visitor_is_optional() {
        let p = ping(r#"{"site":"demo","session":"abcdefgh","event":"heartbeat"}"#).unwrap();
        assert_eq!(p.room, "/");
        assert_eq!(p.visitor, None);
    }

    #[test]
    fn every_bad_field_is_a_bad_request() {
        let cases = [
            "",
            "null",
            "[]",
            "{",
            r#"{"site":"demo","session":"abcdefgh"}"#,
            r#"{"site":"demo","session":"abcdefgh","event":"jump"}"#,
            r#"{"site":"demo","session":"abcdefgh","event":1}"#,
            r#"{"site":"demo","session":"short","event":"join"}"#,
            r#"{"site":"demo","session":"has space!","event":"join"}"#,
            r#"{"site":"demo","event":"join"}"#,
            r#"{"site":"","session":"abcdefgh","event":"join"}"#,
            r#"{"site":"a/b","session":"abcdefgh","event":"join"}"#,
            r#"{"session":"abcdefgh","event":"join"}"#,
            r#"{"site":5,"session":"abcdefgh","event":"join"}"#,
            r#"{"site":"demo","room":"","session":"abcdefgh","event":"join"}"#,
            r#"{"site":"demo","room":"a\nb","session":"abcdefgh","event":"join"}"#,
            r#"{"site":"demo","room":7,"session":"abcdefgh","event":"join"}"#,
            r#"{"site":"demo","session":"abcdefgh","visitor":"v","event":"join"}"#,
            r#"{"site":"demo","session":"abcdefgh","visitor":["x"],"event":"join"}"#,
        ];
        for body in cases {
            let err = ping(body).expect_err(body);
            assert_eq!(
                (err.status(), err.code),
                (400, ErrorCode::BadRequest),
                "{body}"
            );
        }
    }

    #[test]
    fn a_signal_needs_its_name_its_entity_and_token() {
        let base = r#""site":"demo","session":"abcdefgh","entity":"user:1","token":"a.b.c""#;
        let p = ping(&format!(r#"{{{base},"event":"signal","signal":"typing"}}"#)).unwrap();
        assert_eq!(
            (p.event, p.signal.as_deref()),
            (PingEvent::Signal, Some("typing"))
        );
        let p = ping(&format!(
            r#"{{{base},"event":"signal_end","signal":"typing"}}"#
        ))
        .unwrap();
        assert_eq!(p.event, PingEvent::SignalEnd);
        let long = "x".repeat(33);
        for bad in [
            format!(r#"{{{base},"event":"signal"}}"#),
            format!(r#"{{{base},"event":"signal","signal":""}}"#),
            format!(r#"{{{base},"event":"signal","signal":"Typing"}}"#),
            format!(r#"{{{base},"event":"signal","signal":"{long}"}}"#),
            format!(r#"{{{base},"event":"signal","signal":7}}"#),
            format!(r#"{{{base},"event":"join","signal":"typing"}}"#),
            r#"{"site":"demo","session":"abcdefgh","event":"signal","signal":"typing"}"#.into(),
            r#"{"site":"demo","session":"abcdefgh","entity":"user:1","event":"signal","signal":"typing"}"#.into(),
        ] {
            let err = ping(&bad).expect_err(&bad);
            assert_eq!((err.status(), err.code), (400, ErrorCode::BadRequest), "{bad}");
        }
    }

    #[test]
    fn length_limits_are_exact() {
        let site64 = "a".repeat(64);
        let body = format!(
            r#"{{"site":"{site64}","session":"{}","event":"join"}}"#,
            "b".repeat(64)
        );
        assert!(ping(&body).is_ok());
        let body = format!(
            r#"{{"site":"{}a","session":"abcdefgh","event":"join"}}"#,
            site64
        );
        assert!(ping(&body).is_err());
        let body = format!(
            r#"{{"site":"s","session":"{}","event":"join"}}"#,
            "b".repeat(65)
        );
        assert!(ping(&body).is_err());
        let room256 = "é".repeat(256);
        let body =
            format!(r#"{{"site":"s","room":"{room256}","session":"abcdefgh","event":"join"}}"#);
        assert!(body.len() > 256 && ping(&body).is_ok());
        let body =
            format!(r#"{{"site":"s","room":"{room256}x","session":"abcdefgh","event":"join"}}"#);
        assert!(ping(&body).is_err());
    }

    #[test]
    fn bodies_over_one_kib_are_too_large() {
        let body = format!(
            r#"{{"site":"demo","session":"abcdefgh","event":"join","pad":"{}"}}"#,
            "x".repeat(1100)
        );
        assert_eq!(ping(&body).unwrap_err().code, ErrorCode::TooLarge);
    }

    #[test]
    fn a_repeated_field_is_a_bad_request() {
        let e = ping(r#"{"site":"demo","session":"abcdefgh","event":"join","site":"other"}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("\"site\""), "{}", e.message);
    }

    #[test]
    fn deep_or_huge_json_is_a_bad_request_without_panicking() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            parse_ping(deep.as_bytes()).unwrap_err().code,
            ErrorCode::TooLarge
        );
        let deep = format!(r#"{{"site":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(
            parse_ping(deep.as_bytes()).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn random_bytes_never_panic_the_parsers() {
        // xorshift, deterministic; mutations of a valid ping plus plain noise
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let base = br#"{"site":"demo","room":"/a","session":"abcdefgh","visitor":"vvvvvvvv","event":"join","entity":"u:1","token":"a.b.c"}"#;
        for round in 0..20_000 {
            let mut body = base.to_vec();
            for _ in 0..(next() % 8) {
                let i = (next() as usize) % body.len();
                match next() % 3 {
                    0 => body[i] = next() as u8,
                    1 => drop(body.remove(i)),
                    _ => body.insert(i, b"{}[]\",:\\\x00\xff"[(next() % 10) as usize]),
                }
            }
            if round % 5 == 0 {
                body = (0..(next() % 64)).map(|_| next() as u8).collect();
            }
            let _ = parse_ping(&body);
            let q = String::from_utf8_lossy(&body)
                .replace('"', "")
                .replace(',', "&")
                .replace(':', "=");
            if let Ok(q) = Query::parse(&q) {
                let _ = (
                    parse_live(&q),
                    parse_count(&q),
                    parse_rooms(&q),
                    parse_status(&q),
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_is_a_bad_request() {
        assert_eq!(
            parse_ping(b"{\"site\":\"\xff\"}").unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn rooms_limit_defaults_clamps_and_rejects() {
        let lim = |s: &str| parse_rooms(&Query::parse(s).unwrap()).map(|r| r.limit);
        assert_eq!(lim("site=d").unwrap(), 20);
        assert_eq!(lim("site=d&limit=3").unwrap(), 3);
        assert_eq!(lim("site=d&limit=5000").unwrap(), 1000);
        assert_eq!(lim("site=d&limit=99999999999999999999999").unwrap(), 1000);
        assert_eq!(lim("site=d&limit=0007").unwrap(), 7);
        for bad in [
            "site=d&limit=00000000000000000000",
            "site=d&limit=00",
            "site=d&limit=0",
            "site=d&limit=-1",
            "site=d&limit=abc",
            "site=d&limit=",
            "site=d&limit=1.5",
            "site=d&limit=+3",
        ] {
            assert_eq!(lim(bad).unwrap_err().code, ErrorCode::BadRequest, "{bad}");
        }
    }

    #[test]
    fn live_query_validates_every_field() {
        let live = |s: &str| parse_live(&Query::parse(s).unwrap());
        let q = live("site=demo&room=%2F&session=abcdefgh&visitor=vvvvvvvv").unwrap();
        assert_eq!(q.session.as_deref(), Some("abcdefgh"));
        assert!(live("room=%2F").is_err());
        assert!(live("site=demo&session=bad").is_err());
        assert!(live("site=demo&visitor=vvvvvvvv").is_err());
        assert!(live("site=demo&room=a%0Ab").is_err());
    }

    #[test]
    fn entities_and_tokens_are_validated() {
        let p = ping(r#"{"site":"d","session":"abcdefgh","event":"join","entity":"user:42","token":"x.y.z"}"#).unwrap();
        assert_eq!(p.entity.as_deref(), Some("user:42"));
        assert!(
            !serde_json::to_string(&p).unwrap().contains("x.y.z"),
            "tokens are not forwarded"
        );
        for body in [
            r#"{"site":"d","session":"abcdefgh","event":"join","token":"x.y.z"}"#,
            r#"{"site":"d","session":"abcdefgh","event":"join","entity":"user 42","token":"t"}"#,
            r#"{"site":"d","session":"abcdefgh","event":"join","entity":"","token":"t"}"#,
            r#"{"site":"d","session":"abcdefgh","event":"join","entity":5,"token":"t"}"#,
        ] {
            assert_eq!(
                ping(body).unwrap_err().code,
                ErrorCode::BadRequest,
                "{body}"
            );
        }
        let long = "e".repeat(129);
        assert!(parse_entity(Some(&long)).is_err());
        assert!(parse_entity(Some(&long[..128])).is_ok());
        let st = |s: &str| parse_status(&Query::parse(s).unwrap());
        assert_eq!(
            st("site=d&entity=user:1,user:2,user:1").unwrap().entities,
            ["user:1", "user:2"]
        );
        assert!(st("site=d").is_err());
        assert!(st("site=d&entity=").is_err());
        assert!(st("site=d&entity=a,,b").is_err());
        let many: Vec<String> = (0..101).map(|i| format!("u:{i}")).collect();
        assert!(st(&format!("site=d&entity={}", many.join(","))).is_err());
        let live = |s: &str| parse_live(&Query::parse(s).unwrap());
        assert!(
            live("site=d&entity=user:1&token=t").is_err(),
            "entity needs a session"
        );
        assert!(live("site=d&session=abcdefgh&entity=user:1&watch=user:2&token=t").is_err());
        assert!(live("site=d&token=t").is_err());
        assert_eq!(
            live("site=d&watch=user:1,user:2&token=t")
                .unwrap()
                .watch
                .len(),
            2
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn history_ranges_default_to_the_hour_and_anything_else_is_a_bad_request() {
        let h = |s: &str| parse_history(&Query::parse(s).unwrap());
        assert_eq!(h("site=d").unwrap().range, "1h");
        for r in ["1h", "24h", "7d"] {
            assert_eq!(h(&format!("site=d&range={r}")).unwrap().range, r);
        }
        for bad in [
            "site=d&range=",
            "site=d&range=1d",
            "site=d&range=7D",
            "range=1h",
        ] {
            assert_eq!(h(bad).unwrap_err().code, ErrorCode::BadRequest, "{bad}");
        }
    }
}
