//! The socket messages of the contract, as Rust types: what a client receives is exactly what
//! these serialize to (keys in alphabetical order, as clients have always received them), and
//! the OpenAPI document's message schemas are derived from them.

use serde::Serialize;

use super::entities::{info_json, EntityStatus, Info, Member, State};
#[cfg(not(target_arch = "wasm32"))]
use super::types::MAX_MEMBERS;
use super::types::{Counts, Millis, RoomCounts};
#[cfg(not(target_arch = "wasm32"))]
use crate::api::words::schema as words;
#[cfg(not(target_arch = "wasm32"))]
use crate::openapi::text;

/// The texts of the socket protocol (plain text frames, not JSON): a client sends [`PING`] every
/// heartbeat (the runtime answers [`PONG`] without waking the object), on a socket that carries
/// a session [`AWAY`] when its page is hidden and [`BACK`] when it is shown again, and
/// [`TOKEN_PREFIX`] followed by a renewed token before the socket's token expires; a tracked
/// socket sends [`SIGNAL`] or [`SIGNAL_END`], a space and a signal's name.
pub const PING: &str = "ping";
pub const PONG: &str = "pong";
pub const AWAY: &str = "away";
pub const BACK: &str = "back";
pub const TOKEN_PREFIX: &str = "token ";
pub const SIGNAL: &str = "signal";
pub const SIGNAL_END: &str = "signal-end";

/// The members of a room, as `/v1/members` answers them and the `members` message carries them:
/// `{"anonymous":{..},"members":[..],"room":R}`, plus `"truncated":true` when the list was cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        rename = "MembersAnswer",
        deny_unknown_fields,
        description = format!(
            "Who is in a room: the entities with a live session in it, earliest `online_since` \
             first, at most {} (then `truncated` is `true`), and the sessions in it without an \
             entity.",
            text::count(MAX_MEMBERS)
        ),
        example = schema::members()
    )
)]
pub struct MembersList {
    /// The visible sessions in the room without an entity, and their distinct visitors.
    pub anonymous: Counts,
    /// The entities with a live session in the room, earliest `online_since` first.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = MAX_MEMBERS)))]
    pub members: Vec<Member>,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::Room"))]
    pub room: String,
    /// The list was cut at [`MAX_MEMBERS`](super::types::MAX_MEMBERS) members.
    #[serde(skip_serializing_if = "is_false")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            description = format!(
                "Present (and `true`) only when more than {} members were cut.",
                text::count(MAX_MEMBERS)
            ),
            extend("const" = true)
        )
    )]
    pub truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// Server -> client (JSON text frame): the counts of the site (and of the room the socket
/// named), at once on open and then whenever they change, at most one per
/// `BROADCAST_INTERVAL_MS` (a change after a quiet interval goes out at once). The first one
/// also carries `heartbeat_ms`, `ttl_ms` and `signal_ttl_ms` (how long a signal lasts unless
/// renewed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        extend("dependentRequired" = {
            "heartbeat_ms": ["ttl_ms", "signal_ttl_ms"],
            "ttl_ms": ["heartbeat_ms", "signal_ttl_ms"],
            "signal_ttl_ms": ["heartbeat_ms", "ttl_ms"],
        }),
        example = schema::count()
    )
)]
pub struct CountMessage<'a> {
    /// How often to send `ping` (first message only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Millis"))]
    pub heartbeat_ms: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "RoomCounts"))]
    pub room: Option<&'a RoomCounts>,
    /// How long a signal lasts unless sent again (first message only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Millis"))]
    pub signal_ttl_ms: Option<Millis>,
    pub site: Counts,
    /// How long a silent session lives (first message only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Millis"))]
    pub ttl_ms: Option<Millis>,
    pub r#type: CountType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline)
)]
pub enum CountType {
    Count,
}

/// Server -> client (JSON text frame), on a socket opened with `watch`: the status of each
/// watched entity on open, then one on every change of what a watcher sees (a drop shows only
/// after `LEAVE_GRACE_MS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields, example = schema::status())
)]
pub struct StatusMessage<'a> {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EntityId"))]
    pub entity: &'a str,
    #[serde(serialize_with = "info_json")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::MemberInfo>")
    )]
    pub info: Option<Info>,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::EpochMillis>")
    )]
    pub last_seen: Option<Millis>,
    pub online: bool,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::EpochMillis>")
    )]
    pub online_since: Option<Millis>,
    pub sessions: u32,
    /// Its sessions' signals (`typing`): short-lived states, never stored.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Vec<words::Signal>"))]
    pub signals: &'a [std::rc::Rc<str>],
    pub state: State,
    pub r#type: StatusType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline)
)]
pub enum StatusType {
    Status,
}

impl<'a> StatusMessage<'a> {
    pub fn new(entity: &'a str, status: &'a EntityStatus) -> Self {
        StatusMessage {
            entity,
            info: status.info.clone(),
            last_seen: status.last_seen,
            online: status.online(),
            online_since: status.online_since,
            sessions: status.sessions,
            signals: &status.signals,
            state: status.state,
            r#type: StatusType::Status,
        }
    }
}

/// Server -> client (JSON text frame), on a socket opened with `members`: the members of that
/// room (the `GET /v1/members` answer plus `type`) on open, then on every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields, example = schema::members_message())
)]
pub struct MembersMessage<'a> {
    #[serde(flatten)]
    pub list: &'a MembersList,
    pub r#type: MembersType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline)
)]
pub enum MembersType {
    Members,
}

/// Server -> client (JSON text frame): what the socket sent was refused and changed nothing (a
/// `token` renewal: `bad_token`; a signal: `bad_request`, `rate_limited`, with the signal's name
/// when it is a valid one, so a client can send it again once the second has passed).
/// `{"type":"error","error":{"code","message"},"signal"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        rename = "SocketErrorMessage",
        deny_unknown_fields,
        example = schema::error()
    )
)]
pub struct ErrorMessage<'a> {
    pub error: ErrorDetail<'a>,
    /// The refused signal (`signal <name>` or `signal-end <name>` with a valid name).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::Signal"))]
    pub signal: Option<&'a str>,
    pub r#type: ErrorType,
}

/// The code and the sentence of a refusal, as in every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline, deny_unknown_fields)
)]
pub struct ErrorDetail<'a> {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "crate::api::ErrorCode"))]
    pub code: &'a str,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "crate::api::error::ErrorMessage")
    )]
    pub message: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline)
)]
pub enum ErrorType {
    Error,
}

/// The examples of the messages in the OpenAPI document (native builds only).
#[cfg(not(target_arch = "wasm32"))]
mod schema {
    use super::*;

    fn json(message: impl Serialize) -> serde_json::Value {
        serde_json::to_value(message).unwrap_or_default()
    }

    pub fn count() -> serde_json::Value {
        let room = RoomCounts::new(
            "/pricing",
            Counts {
                sessions: 7,
                visitors: 7,
            },
        );
        json(CountMessage {
            heartbeat_ms: Some(15_000),
            room: Some(&room),
            site: Counts {
                sessions: 42,
                visitors: 40,
            },
            ttl_ms: Some(45_000),
            signal_ttl_ms: Some(5_000),
            r#type: CountType::Count,
        })
    }

    pub fn status() -> serde_json::Value {
        let status = EntityStatus {
            state: State::Online,
            sessions: 1,
            last_seen: Some(1_763_800_000_000),
            online_since: Some(1_763_800_000_000),
            info: None,
            signals: vec!["typing".into()],
        };
        json(StatusMessage::new("user:42", &status))
    }

    pub fn members_message() -> serde_json::Value {
        json(MembersMessage {
            list: &members(),
            r#type: MembersType::Members,
        })
    }

    pub fn error() -> serde_json::Value {
        json(ErrorMessage {
            error: ErrorDetail {
                code: "bad_token",
                message: crate::token::TokenError::Expired.message(),
            },
            signal: None,
            r#type: ErrorType::Error,
        })
    }

    pub fn members() -> MembersList {
        MembersList {
            anonymous: Counts {
                sessions: 3,
                visitors: 2,
            },
            members: vec![Member {
                entity: "user:42".into(),
                state: State::Online,
                sessions: 1,
                online_since: 1_763_800_000_000,
                info: Some(r#"{"name":"Ada"}"#.into()),
                signals: Vec::new(),
            }],
            room: "/docs".into(),
            truncated: false,
        }
    }
}
