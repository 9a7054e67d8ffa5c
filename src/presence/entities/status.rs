//! What watchers and storage see of an entity: its status, its members view, its shown-state
//! transitions (webhooks) and its stored record.

use std::rc::Rc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::super::types::Millis;
#[cfg(not(target_arch = "wasm32"))]
use crate::api::words::schema as words;

/// An entity's member info: a JSON object (at most 512 bytes) from its track token.
pub type Info = Rc<str>;

/// What a watcher sees of an entity's presence. `online`: some session of the entity is
/// visible; `away`: it has sessions, none visible; `offline`: none (after `LEAVE_GRACE_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(rename = "EntityState")
)]
pub enum State {
    Offline,
    Away,
    Online,
}

/// What a watcher sees of an entity, as `/v1/status` shows it (`online` is true for online
/// and away).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "StatusJson")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(example = schema::online(), example = EntityStatus::offline(None, None))
)]
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
        .and_then(|i| serde_json::from_slice::<&RawValue>(i.as_bytes()).ok());
    match raw {
        Some(raw) => raw.serialize(s),
        None => s.serialize_none(),
    }
}

/// An entity's status as JSON.
#[derive(Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
struct StatusJson {
    /// `true` when `state` is `online` or `away`.
    online: bool,
    state: State,
    /// Its live sessions (tabs, devices), away ones included.
    sessions: u32,
    /// The last sign of life (kept across restarts); `null` when never seen.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::EpochMillis>")
    )]
    last_seen: Option<Millis>,
    /// When the current online-or-away period began (a reload inside the grace does not
    /// restart it); `null` when offline.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::EpochMillis>")
    )]
    online_since: Option<Millis>,
    #[serde(serialize_with = "info_json")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::MemberInfo>")
    )]
    info: Option<Info>,
    /// Its sessions' signals (`typing`): short-lived states, never stored.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Vec<words::Signal>"))]
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

/// An entity with a live session in the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Member {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EntityId"))]
    pub entity: Rc<str>,
    /// In this room: `online` (a visible session here) or `away`.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(schema_with = "schema::member_state")
    )]
    pub state: State,
    /// Its sessions in this room.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1)))]
    pub sessions: u32,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EpochMillis"))]
    pub online_since: Millis,
    #[serde(serialize_with = "info_json")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<words::MemberInfo>")
    )]
    pub info: Option<Info>,
    /// The signals of its sessions in this room (`typing`).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Vec<words::Signal>"))]
    pub signals: Vec<Rc<str>>,
}

/// What the schemas of statuses say beyond their fields (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::{EntityStatus, State};

    fn name(state: State) -> serde_json::Value {
        serde_json::to_value(state).unwrap_or_default()
    }

    /// A member's state: only the states of an entity with a session.
    pub fn member_state(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": [name(State::Online), name(State::Away)] })
    }

    /// What ties the fields of a status together (`EntityStatusRules`, which statuses and
    /// `status` messages follow).
    pub struct EntityStatusRules;

    impl JsonSchema for EntityStatusRules {
        fn schema_name() -> Cow<'static, str> {
            "EntityStatusRules".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "What ties the fields of a status together: `offline` has `online` \
                    false, 0 sessions and `online_since` null; `online` and `away` have `online` \
                    true, at least one session, and both times.",
                "type": "object",
                "if": { "type": "object", "properties": { "state": { "const": name(State::Offline) } } },
                "then": {
                    "type": "object",
                    "properties": {
                        "online": { "const": false },
                        "sessions": { "const": 0 },
                        "online_since": { "type": "null" },
                    },
                },
                "else": {
                    "type": "object",
                    "properties": {
                        "online": { "const": true },
                        "sessions": { "type": "integer", "minimum": 1 },
                        "online_since": { "type": "integer" },
                        "last_seen": { "type": "integer" },
                    },
                },
            })
        }
    }

    /// An online entity (the document's example).
    pub fn online() -> EntityStatus {
        EntityStatus {
            state: State::Online,
            sessions: 2,
            last_seen: Some(1_763_800_000_000),
            online_since: Some(1_763_799_000_000),
            info: Some(r#"{"name":"Ada"}"#.into()),
            signals: vec!["typing".into()],
        }
    }
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
