//! What the core asks the edge to do, as data: rows to write, messages to send, sockets to
//! close, and when to wake it. [`super::Presence::poll`] hands them out in one [`Effects`]
//! value after every input; the Durable Object carries them out in one place.

use super::entities::{EntityRecord, EntityStatus};
use super::history::MinuteRow;
use super::messages::{
    CountMessage, CountType, ErrorDetail, ErrorMessage, ErrorType, MembersList, MembersMessage,
    MembersType, StatusMessage,
};
use super::shards::{Report, Totals};
use super::types::{Counts, Millis, RoomCounts, SocketId, VisitorKey};
use super::webhooks::QueueChange;

/// Everything the edge must do after an input, in order: writes first (so that what a
/// message announces is stored), then sends, then closes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub writes: Vec<Write>,
    pub sends: Vec<Send>,
    pub closes: Vec<Close>,
    /// Sockets whose session went away (`true`) or came back: their attachments keep it
    /// through hibernation.
    pub marks: Vec<(SocketId, bool)>,
    /// When the core must be called again ([`super::Presence::alarm`]), if ever: deadlines that
    /// must be met even if the object hibernates or restarts (silences, holds, graces,
    /// signals' ends, the history minute, webhook retries, shard reports). The edge keeps them
    /// in the alarm, which it moves only when this is earlier (each `setAlarm` is billed as a
    /// row written).
    pub wake_at: Option<Millis>,
    /// When throttled messages (counts, members) fall due, if any are pending: at most one
    /// broadcast interval away, while the object is awake anyway, so the edge keeps it in a
    /// timer in memory (then [`super::Presence::poll`]), not in the alarm. A pending timer keeps
    /// the object from hibernating; if it is lost (a restart), the next change or alarm sends.
    pub flush_at: Option<Millis>,
    /// Sessions are live that only HTTP heartbeats keep: the object should stay in memory
    /// (not hibernate between heartbeats), since their liveness is known in memory only and
    /// a wake-up would have to restore them from storage.
    pub stay_resident: bool,
    /// A shard: the report to send the coordinator now (answer with
    /// [`super::Presence::report_answered`]).
    pub report: Option<Report>,
    /// The coordinator: the totals to push to shards now.
    pub pushes: Vec<(u32, Totals)>,
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
        info: Option<String>,
        joined_at: Millis,
        away: bool,
    },
    /// A session ended.
    Delete { session: String },
    /// The first sign of life of a session restored from storage: clear its restore mark.
    Confirm { session: String },
    /// These restored sessions were given one `ttl` from `at`; if the object restarts again
    /// before they show a sign of life, they get no second `ttl`.
    MarkRestored { at: Millis, sessions: Vec<String> },
    /// An entity's last sign of life, online period and info, kept across restarts (written
    /// when one of its sessions starts or ends).
    Entity(EntityRecord),
    /// A change of the webhook queue.
    Webhook(QueueChange),
    /// A minute of the site's history that ended (at most one row per minute).
    History(MinuteRow),
}

/// One message to some sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    pub to: Vec<SocketId>,
    pub message: Message,
}

impl Send {
    /// `message` to one socket.
    pub fn one(to: SocketId, message: Message) -> Self {
        Send {
            to: vec![to],
            message,
        }
    }
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
    /// `{"type":"status","entity":..,` and the fields of [`EntityStatus`]`}`
    Status {
        entity: String,
        status: EntityStatus,
    },
    /// `{"type":"members","room":..,"members":[..],"anonymous":{..}}` (+ `"truncated":true`)
    Members(MembersList),
    /// The text `pong`, for a `ping` the runtime did not answer itself (other spelling).
    Pong,
    /// `{"type":"error","error":{"code":..,"message":..}}`: what the socket sent was refused
    /// and changed nothing (a `token` renewal the edge did not accept; a signal, then with
    /// `"signal":<name>` when the name is valid, so the client knows which one to send again).
    Error {
        code: &'static str,
        message: &'static str,
        signal: Option<String>,
    },
}

/// The heartbeat and ttl a socket is told in its first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat_ms: Millis,
    pub ttl_ms: Millis,
    pub signal_ttl_ms: Millis,
}

impl Message {
    /// The text sent on the socket: the message's JSON (see `messages.rs`), or `pong`.
    pub fn text(&self) -> String {
        let json = match self {
            Message::Count { site, room, timing } => serde_json::to_string(&CountMessage {
                heartbeat_ms: timing.map(|t| t.heartbeat_ms),
                room: room.as_ref(),
                signal_ttl_ms: timing.map(|t| t.signal_ttl_ms),
                site: *site,
                ttl_ms: timing.map(|t| t.ttl_ms),
                r#type: CountType::Count,
            }),
            Message::Status { entity, status } => {
                serde_json::to_string(&StatusMessage::new(entity, status))
            }
            Message::Members(list) => serde_json::to_string(&MembersMessage {
                list,
                r#type: MembersType::Members,
            }),
            Message::Pong => return super::messages::PONG.to_owned(),
            Message::Error {
                code,
                message,
                signal,
            } => serde_json::to_string(&ErrorMessage {
                error: ErrorDetail { code, message },
                signal: signal.as_deref(),
                r#type: ErrorType::Error,
            }),
        };
        // These plain structs always serialize.
        json.unwrap_or_default()
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
                signal_ttl_ms: 5_000,
            }),
        };
        assert_eq!(
            first.text(),
            r#"{"heartbeat_ms":15000,"room":{"room":"/a","sessions":1,"visitors":1},"signal_ttl_ms":5000,"site":{"sessions":3,"visitors":2},"ttl_ms":45000,"type":"count"}"#
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
            status: EntityStatus::offline(None, None),
        };
        assert_eq!(
            status.text(),
            r#"{"entity":"user:42","info":null,"last_seen":null,"online":false,"online_since":null,"sessions":0,"signals":[],"state":"offline","type":"status"}"#
        );
        let members = Message::Members(MembersList {
            room: "/docs".into(),
            members: vec![],
            anonymous: site,
            truncated: false,
        });
        assert_eq!(
            members.text(),
            r#"{"anonymous":{"sessions":3,"visitors":2},"members":[],"room":"/docs","type":"members"}"#
        );
        assert_eq!(Message::Pong.text(), "pong");
    }
}
