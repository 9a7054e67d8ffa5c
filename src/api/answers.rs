//! The JSON answers of the API, as Rust types: the object serializes them, the Worker reads the
//! ones it needs (a badge's counts), and the OpenAPI document's answer schemas are derived from
//! them. Errors have their own type in `error.rs`; the members list (also a socket message's)
//! and history's answer are built in the core (`presence/messages.rs`, `presence/history.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::presence::{Counts, EntityStatus, Millis, RoomCounts, Snapshot};

/// `POST /v1/ping`: the site's counts and the ping's room's (or its group's), and the timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PingAnswer {
    pub site: Counts,
    pub room: RoomCounts,
    pub heartbeat_ms: Millis,
    pub ttl_ms: Millis,
    /// How long a signal lasts unless sent again (`SIGNAL_TTL_MS`).
    pub signal_ttl_ms: Millis,
}

/// `GET /v1/count`: the site's counts, and the room's when one was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountAnswer {
    pub site: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// `GET /v1/rooms`: the site's counts and its busiest rooms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomsAnswer {
    pub site: Counts,
    pub rooms: Vec<RoomCounts>,
}

/// `GET /v1/status`: each entity asked for, by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusAnswer {
    pub entities: BTreeMap<String, EntityStatus>,
}

/// What an object answers a call that only needs to be received (the objects' own protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {}
