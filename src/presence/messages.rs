//! The socket messages of the contract, as Rust types: what a client receives is exactly what
//! these serialize to (keys in alphabetical order, as clients have always received them), and
//! the OpenAPI document's message schemas are derived from them.

use serde::Serialize;

use super::entities::{info_json, EntityStatus, Info, Member, State};
use super::types::{Counts, Millis, RoomCounts};

/// The members of a room, as `/v1/members` answers them and the `members` message carries them:
/// `{"anonymous":{..},"members":[..],"room":R}`, plus `"truncated":true` when the list was cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MembersList {
    /// The visible sessions in the room without an entity, and their distinct visitors.
    pub anonymous: Counts,
    /// The entities with a live session in the room, earliest `online_since` first.
    pub members: Vec<Member>,
    pub room: String,
    /// The list was cut at 1,000 members.
    #[serde(skip_serializing_if = "is_false")]
    pub truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// `{"type":"count","site":{..}}` with `"room"` when the socket named one; the first message of
/// a socket also carries `heartbeat_ms`, `ttl_ms` and `signal_ttl_ms` (how long a signal
/// lasts unless renewed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<&'a RoomCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_ttl_ms: Option<Millis>,
    pub site: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<Millis>,
    pub r#type: CountType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CountType {
    Count,
}

/// `{"type":"status","entity":E}` and the fields of the entity's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusMessage<'a> {
    pub entity: &'a str,
    #[serde(serialize_with = "info_json")]
    pub info: Option<Info>,
    pub last_seen: Option<Millis>,
    pub online: bool,
    pub online_since: Option<Millis>,
    pub sessions: u32,
    /// Its sessions' signals (`typing`): short-lived states, never stored.
    pub signals: &'a [std::rc::Rc<str>],
    pub state: State,
    pub r#type: StatusType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// `{"type":"members"}` and the fields of [`MembersList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MembersMessage<'a> {
    #[serde(flatten)]
    pub list: &'a MembersList,
    pub r#type: MembersType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MembersType {
    Members,
}

/// `{"type":"error","error":{"code","message"}}`: what a socket sent was refused and changed
/// nothing (e.g. a `token` renewal: `bad_token`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorMessage<'a> {
    pub error: ErrorDetail<'a>,
    pub r#type: ErrorType,
}

/// The code and the sentence of a refusal, as in every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorType {
    Error,
}
