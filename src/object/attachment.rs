//! What a socket carries through hibernation and restarts: enough to rebuild its place in the
//! core ([`SocketSpec`]) without storage. Kept as one JSON string (one JS value to hand over per
//! socket when thousands come back at once on a wake-up).

use serde::{Deserialize, Serialize};
use worker::WebSocket;

use crate::presence::{AddressKey, Millis, SocketId, SocketSession, SocketSpec};
use crate::token::Grant;
use crate::visitor::{from_hex, to_hex};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: SocketId,
    /// The session it carries, with the hashed visitor, room and entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<AttachedSession>,
    /// The room whose counts it receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// The entities whose status it receives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<String>,
    /// The room whose members it receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    pub opened_at: Millis,
    /// The client address that opened it, hashed (16 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What its token grants, until when (a tracked entity, watch and members sockets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedSession {
    pub id: String,
    pub visitor: String,
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Its page is hidden (an entity's session, away).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub away: bool,
}

impl Attachment {
    pub fn of(spec: &SocketSpec, grant: Option<Grant>) -> Attachment {
        Attachment {
            id: spec.id,
            session: spec.session.as_ref().map(|s| AttachedSession {
                id: s.session.clone(),
                visitor: to_hex(s.visitor),
                room: s.room.clone(),
                entity: s.entity.clone(),
                info: s.info.clone(),
                away: s.away,
            }),
            view: spec.view.clone(),
            watch: spec.watch.clone(),
            members: spec.members.clone(),
            opened_at: spec.seen_at,
            address: Some(format!("{:016x}", spec.address.0)),
            grant,
        }
    }

    /// The socket as the core knows it; `seen_at` is its last sign of life if known.
    pub fn spec(self, seen_at: Option<Millis>) -> Option<SocketSpec> {
        let session = match self.session {
            Some(s) => Some(SocketSession {
                visitor: from_hex(&s.visitor)?,
                session: s.id,
                room: s.room,
                entity: s.entity,
                info: s.info,
                away: s.away,
            }),
            None => None,
        };
        let address = self
            .address
            .and_then(|a| u64::from_str_radix(&a, 16).ok())
            .map_or(AddressKey::UNKNOWN, AddressKey);
        Some(SocketSpec {
            id: self.id,
            session,
            view: self.view,
            watch: self.watch,
            members: self.members,
            seen_at: seen_at.unwrap_or(0).max(self.opened_at),
            address,
            token_until: self.grant.map(|g| g.until),
        })
    }

    pub fn save(&self, ws: &WebSocket) -> worker::Result<()> {
        super::runtime::set_attachment_text(ws, &serde_json::to_string(self)?)
    }

    pub fn load(ws: &WebSocket) -> Option<Attachment> {
        serde_json::from_slice(super::runtime::attachment_text(ws)?.as_bytes()).ok()
    }
}
