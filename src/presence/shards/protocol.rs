//! The objects' own protocol: what a shard tells its coordinator and what the coordinator tells
//! it back. Never seen by clients: it travels between the objects of one site (and from the
//! Worker for a shard's anonymous counts), in its own header, beside the public calls.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::super::types::{Counts, Millis, RoomCounts};

/// A change of an entity's session, as the site's entities apply it: produced by the object that
/// holds the session, applied by the object that keeps the site's entities (the same object, or
/// the coordinator after a shard's report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityEvent {
    /// A session of `entity` began, moved, went away or came back, or carries new info.
    Start {
        entity: Rc<str>,
        session: Rc<str>,
        room: Rc<str>,
        visible: bool,
        info: Option<Rc<str>>,
        at: Millis,
    },
    /// A session of `entity` ended at `at`; its last sign of life was `last_seen`.
    End {
        entity: Rc<str>,
        session: Rc<str>,
        at: Millis,
        last_seen: Millis,
    },
    /// The latest sign of life of one of the entity's sessions.
    Seen { entity: Rc<str>, at: Millis },
    /// A signal of one of the entity's sessions began or was renewed (it ends at `until`), or
    /// ended (`until` is `None`).
    Signal {
        entity: Rc<str>,
        session: Rc<str>,
        name: Rc<str>,
        until: Option<Millis>,
        at: Millis,
    },
    /// A session came back from storage after a restart: the entity was last seen at
    /// `last_seen`, online since `online_since`. Applied where it was produced (a shard reports
    /// it as a `Start`): never sent.
    #[serde(skip)]
    Restored {
        entity: Rc<str>,
        session: Rc<str>,
        room: Rc<str>,
        visible: bool,
        info: Option<Rc<str>>,
        last_seen: Millis,
        online_since: Millis,
        at: Millis,
    },
}

/// One room of a shard under its own name, whether the site names it or not: its counts and
/// its distinct client addresses (for the site's room slots: `slots.rs`). A client address
/// lives on one object, so addresses add up across objects as visitors do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRoom {
    pub room: String,
    pub sessions: u32,
    pub visitors: u32,
    pub addresses: u32,
    /// When it got its first session on the shard.
    #[serde(default)]
    pub since: Millis,
}

/// What a shard tells the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub shard: u32,
    /// The shard's tallies: the site's, every room's under its own name, and the rooms it
    /// counts in `~other` together (exact distinct visitors; as of its `slots` version).
    pub site: Counts,
    pub rooms: Vec<ReportRoom>,
    #[serde(default)]
    pub other: Counts,
    /// The rooms its sockets view (the coordinator pushes their totals).
    pub views: Vec<String>,
    pub sockets: u32,
    /// Anonymous counts of the rooms the coordinator asked about (for members).
    pub anonymous: Vec<RoomCounts>,
    /// Entity session changes since the last report, in order.
    pub entities: Vec<EntityEvent>,
    /// `entities` lists every entity session of the shard (after a restart of either side):
    /// the coordinator replaces what it knew of this shard's entity sessions.
    pub snapshot: bool,
    /// The version of the site's named rooms the shard holds (0: none; see `slots.rs`).
    #[serde(default)]
    pub slots: u64,
}

/// What the coordinator tells a shard (the answer to a report, or a push).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// The coordinator's instance: a new one asks the shard for a full entity snapshot.
    pub instance: u64,
    pub site: Counts,
    /// The totals of the rooms the shard views.
    pub rooms: Vec<RoomCounts>,
    /// Rooms whose members someone follows: shards report their anonymous counts.
    pub members_rooms: Vec<String>,
    /// The site's rooms are past `MAX_ROOMS`: the version of its named rooms (0: not full).
    #[serde(default)]
    pub slots: u64,
    /// The named rooms, when the shard holds another version than `slots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named: Option<Vec<String>>,
}

/// A call between the objects of a site (and the Worker's question for a shard's anonymous
/// counts), carried in the `herenow-shard-call` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardCall {
    /// A shard's report to the coordinator, answered with its [`Totals`].
    Report { site: String, report: Report },
    /// The totals a report was answered with, sent by the shard to itself so that they reach
    /// its core like any input.
    Answered { site: String, totals: Totals },
    /// The coordinator pushes new totals to a shard.
    Push { site: String, totals: Totals },
    /// The Worker asks an object for its anonymous counts of a room (`/v1/members` on a sharded
    /// site), answered with [`Counts`].
    Anonymous { site: String, room: String },
}

impl ShardCall {
    pub fn site(&self) -> &str {
        match self {
            ShardCall::Report { site, .. }
            | ShardCall::Answered { site, .. }
            | ShardCall::Push { site, .. }
            | ShardCall::Anonymous { site, .. } => site,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_session_is_never_sent() {
        let restored = EntityEvent::Restored {
            entity: "u".into(),
            session: "s".into(),
            room: "/".into(),
            visible: true,
            info: None,
            last_seen: 1,
            online_since: 1,
            at: 2,
        };
        assert!(serde_json::to_string(&restored).is_err());
        let start = EntityEvent::Seen {
            entity: "u".into(),
            at: 5,
        };
        let text = serde_json::to_string(&start).unwrap();
        assert_eq!(serde_json::from_str::<EntityEvent>(&text).unwrap(), start);
    }
}
