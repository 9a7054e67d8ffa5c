//! The JSON answers of the API, as Rust types: the object serializes them, the Worker reads the
//! ones it needs (a badge's counts), and the OpenAPI document's answer schemas are derived from
//! them. Errors have their own type in `error.rs`; the members list (also a socket message's)
//! and history's answer are built in the core (`presence/messages.rs`, `presence/history.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use super::words::schema as words;
use crate::presence::{Counts, EntityStatus, Millis, RoomCounts, Snapshot};

/// `POST /v1/ping`: the counts after the ping (the site's, and the ping's room's or its
/// group's), and how often to heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        example = examples::ping()
    )
)]
pub struct PingAnswer {
    pub site: Counts,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "crate::presence::types::PingRoomCounts")
    )]
    pub room: RoomCounts,
    /// How often to send a heartbeat (`PRESENCE_HEARTBEAT_SECONDS`).
    pub heartbeat_ms: Millis,
    /// A session with no sign of life for this long is gone (`PRESENCE_TTL_SECONDS`).
    pub ttl_ms: Millis,
    /// How long a signal lasts unless sent again (`SIGNAL_TTL_MS`).
    pub signal_ttl_ms: Millis,
}

/// `GET /v1/count`: the site's counts, and the room's when the query named one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        example = examples::count()
    )
)]
pub struct CountAnswer {
    pub site: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "RoomCounts"))]
    pub room: Option<RoomCounts>,
}

impl From<Snapshot> for CountAnswer {
    fn from(s: Snapshot) -> Self {
        CountAnswer {
            site: s.site,
            room: s.room,
        }
    }
}

/// `GET /v1/rooms`: the site's counts and its busiest rooms, busiest first (by sessions, then
/// visitors, then name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        example = examples::rooms()
    )
)]
pub struct RoomsAnswer {
    pub site: Counts,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(max = super::MAX_ROOMS_LIMIT))
    )]
    pub rooms: Vec<RoomCounts>,
}

/// `GET /v1/status`: the status of each entity asked for, by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        example = examples::status()
    )
)]
pub struct StatusAnswer {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(schema_with = "entities_by_id"))]
    pub entities: BTreeMap<String, EntityStatus>,
}

/// The schema of [`StatusAnswer::entities`]: 1 to [`MAX_ENTITIES`](super::MAX_ENTITIES)
/// statuses, by entity id.
#[cfg(not(target_arch = "wasm32"))]
fn entities_by_id(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "minProperties": 1,
        "maxProperties": super::MAX_ENTITIES,
        "propertyNames": generator.subschema_for::<words::EntityId>(),
        "additionalProperties": generator.subschema_for::<EntityStatus>(),
    })
}

/// The examples of the answers in the OpenAPI document.
#[cfg(not(target_arch = "wasm32"))]
mod examples {
    use super::*;
    use crate::presence::entities::State;

    const SITE: Counts = Counts {
        sessions: 42,
        visitors: 40,
    };

    fn pricing() -> RoomCounts {
        RoomCounts::new(
            "/pricing",
            Counts {
                sessions: 7,
                visitors: 7,
            },
        )
    }

    pub fn ping() -> PingAnswer {
        PingAnswer {
            site: SITE,
            room: pricing(),
            heartbeat_ms: 15_000,
            ttl_ms: 45_000,
            signal_ttl_ms: 5_000,
        }
    }

    pub fn count() -> CountAnswer {
        CountAnswer {
            site: SITE,
            room: Some(pricing()),
        }
    }

    pub fn rooms() -> RoomsAnswer {
        let room = |name, sessions, visitors| RoomCounts::new(name, Counts { sessions, visitors });
        RoomsAnswer {
            site: Counts {
                sessions: 5,
                visitors: 4,
            },
            rooms: vec![room("/", 3, 2), room("/pricing", 2, 2)],
        }
    }

    pub fn status() -> StatusAnswer {
        let online = EntityStatus {
            state: State::Online,
            sessions: 2,
            last_seen: Some(1_763_800_000_000),
            online_since: Some(1_763_799_000_000),
            info: None,
            signals: Vec::new(),
        };
        StatusAnswer {
            entities: BTreeMap::from([
                ("user:42".to_owned(), online),
                ("user:7".to_owned(), EntityStatus::offline(None, None)),
            ]),
        }
    }
}

/// What an object answers a call that only needs to be received (the objects' own protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {}
