//! What watchers and storage see of an entity: its status, its members view, its shown-state
//! transitions (webhooks) and its stored record.

use std::rc::Rc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::super::types::Millis;

/// An entity's member info: a JSON object (at most 512 bytes) from its track token.
pub type Info = Rc<str>;

/// What a watcher sees of an entity's presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Offline,
    Away,
    Online,
}

/// What a watcher sees of an entity: `{"online","state","sessions","last_seen","online_since",
/// "info"}`, as `/v1/status` shows it (`online` is true for online and away).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "StatusJson")]
pub struct EntityStatus {
    pub state: State,
    pub sessions: u32,
    /// Epoch ms of the last sign of life; `None` when never seen.
    pub last_seen: Option<Millis>,
    /// When the current online-or-away period began; `None` when offline.
    pub online_since: Option<Millis>,
    pub info: Option<Info>,
    /// Its sessions' signals (`typing`), sorted.
    pub signals: Vec<Rc<str>>,
}

impl EntityStatus {
    /// An entity not held in memory: offline, last seen and info as storage says.
    pub fn offline(last_seen: Option<Millis>, info: Option<Info>) -> Self {
        EntityStatus {
            state: State::Offline,
            sessions: 0,
            last_seen,
            online_since: None,
            info,
            signals: Vec::new(),
        }
    }

    /// `true` when online or away.
    pub fn online(&self) -> bool {
        self.state != State::Offline
    }
}

/// Serializes member info (a JSON object, checked when its token was read) as the JSON it is,
/// not as a string.
pub(crate) fn info_json<S: Serializer>(info: &Option<Info>, s: S) -> Result<S::Ok, S::Error> {
    let raw = info
        .as_deref()
        .and_then(|i| serde_json::from_str::<&RawValue>(i).ok());
    match raw {
        Some(raw) => raw.serialize(s),
        None => s.serialize_none(),
    }
}

/// An entity's status as JSON.
#[derive(Serialize)]
struct StatusJson {
    online: bool,
    state: State,
    sessions: u32,
    last_seen: Option<Millis>,
    online_since: Option<Millis>,
    #[serde(serialize_with = "info_json")]
    info: Option<Info>,
    signals: Vec<Rc<str>>,
}

impl From<EntityStatus> for StatusJson {
    fn from(s: EntityStatus) -> Self {
        StatusJson {
            online: s.online(),
            state: s.state,
            sessions: s.sessions,
            last_seen: s.last_seen,
            online_since: s.online_since,
            info: s.info,
            signals: s.signals,
        }
    }
}

/// An entity in one room, as members of that room show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomPresence {
    pub room: Rc<str>,
    pub sessions: u32,
    /// Some session of the entity in this room is visible.
    pub visible: bool,
    /// The signals of its sessions in this room.
    pub signals: Vec<Rc<str>>,
}

/// One member of a room: `{"entity","state","sessions","online_since","info"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub entity: Rc<str>,
    pub state: State,
    /// The entity's sessions in this room.
    pub sessions: u32,
    pub online_since: Millis,
    #[serde(serialize_with = "info_json")]
    pub info: Option<Info>,
    /// The signals of its sessions in this room (`typing`).
    pub signals: Vec<Rc<str>>,
}

/// A change of an entity's shown state (for webhooks): `from` -> `status.state` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub entity: Rc<str>,
    pub from: State,
    pub at: Millis,
    pub status: EntityStatus,
}

/// What storage keeps of an entity (written when one of its sessions starts or ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRecord {
    pub entity: String,
    pub last_seen: Millis,
    pub online_since: Millis,
    pub info: Option<String>,
}
