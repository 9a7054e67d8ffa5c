//! What the core asks the edge to do, as data: rows to write, messages to send, sockets to
//! close, and when to wake it. [`super::Presence::poll`] hands them out in one [`Effects`]
//! value after every input; the Durable Object carries them out in one place.

use serde::Serialize;
use serde_json::json;

use super::entities::EntityStatus;
use super::types::{Counts, Millis, RoomCounts, SocketId, VisitorKey};

/// Everything the edge must do after an input, in order: writes first (so that what a
/// message announces is stored), then sends, then closes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub writes: Vec<Write>,
    pub sends: Vec<Send>,
    pub closes: Vec<Close>,
    /// When the core must be called again ([`super::Presence::alarm`]), if ever.
    pub wake_at: Option<Millis>,
}

/// A storage change. Heartbeats produce none.
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

/// One message to some sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    pub to: Vec<SocketId>,
    pub message: Message,
}

/// The socket messages of the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `{"type":"count","site":{..},"room":{..}}`; the first message of a socket also carries
    /// `heartbeat_ms` and `ttl_ms` (`timing`), so a client knows how often to ping.
    Count {
        site: Counts,
        room: Option<RoomCounts>,
        timing: Option<Timing>,
    },
    /// `{"type":"status","entity":..,"online":..,"sessions":..,"last_seen":..}`
    Status {
        entity: String,
        status: EntityStatus,
    },
    /// The text `pong`, for a `ping` the runtime did not answer itself (other spelling).
    Pong,
}

/// The heartbeat and ttl a socket is told in its first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Timing {
    pub heartbeat_ms: Millis,
    pub ttl_ms: Millis,
}

impl Message {
    /// The text sent on the socket.
    pub fn text(&self) -> String {
        match self {
            Message::Count { site, room, timing } => {
                let mut v = json!({"type": "count", "site": site});
                if let Some(room) = room {
                    v["room"] = json!(room);
                }
                if let Some(t) = timing {
                    v["heartbeat_ms"] = json!(t.heartbeat_ms);
                    v["ttl_ms"] = json!(t.ttl_ms);
                }
                v.to_string()
            }
            Message::Status { entity, status } => json!({
                "type": "status",
                "entity": entity,
                "online": status.online,
                "sessions": status.sessions,
                "last_seen": status.last_seen,
            })
            .to_string(),
            Message::Pong => "pong".to_owned(),
        }
    }
}

/// A socket the core has let go; the edge closes it with this code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    pub socket: SocketId,
    pub code: u16,
    pub reason: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_contract_shapes() {
        let site = Counts {
            sessions: 3,
            visitors: 2,
        };
        let room = RoomCounts::new(
            "/a",
            Counts {
                sessions: 1,
                visitors: 1,
            },
        );
        let first = Message::Count {
            site,
            room: Some(room.clone()),
            timing: Some(Timing {
                heartbeat_ms: 15_000,
                ttl_ms: 45_000,
            }),
        };
        assert_eq!(
            first.text(),
            r#"{"heartbeat_ms":15000,"room":{"room":"/a","sessions":1,"visitors":1},"site":{"sessions":3,"visitors":2},"ttl_ms":45000,"type":"count"}"#
        );
        let later = Message::Count {
            site,
            room: None,
            timing: None,
        };
        assert_eq!(
            later.text(),
            r#"{"site":{"sessions":3,"visitors":2},"type":"count"}"#
        );
        let status = Message::Status {
            entity: "user:42".into(),
            status: EntityStatus {
                online: false,
                sessions: 0,
                last_seen: None,
            },
        };
        assert_eq!(
            status.text(),
            r#"{"entity":"user:42","last_seen":null,"online":false,"sessions":0,"type":"status"}"#
        );
        assert_eq!(Message::Pong.text(), "pong");
    }
}
