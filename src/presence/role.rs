//! What an object is for its site, chosen once when it learns which object of the site it is:
//!
//! - **Single**: the site's one object (`"shards": 1`, the default): it keeps everything.
//! - **Coordinator**: object 0 of a sharded site: it keeps the site's entities, webhooks and
//!   history, adds its shards' reports to its own counts, and grants the site's room slots.
//! - **Shard**: objects 1..K: they count their own sessions and sockets, forward their entity
//!   sessions' changes and report their tallies to the coordinator (`shards/`).
//!
//! The object that keeps the site holds a [`Keeper`]; a shard has none, so a shard cannot keep
//! entities or history by mistake. Whichever the role, entity changes of this object's sessions
//! go to one place ([`Role::route`]) and the counts a socket shows come from one place
//! ([`Role::view`]).

use super::broadcast::View;
use super::entities::Entities;
use super::history::History;
use super::local::Local;
use super::shards::{Coordinator, EntityEvent, Shard};
use super::slots::RoomSlots;
use super::types::{Config, Counts, Millis};
use super::webhooks::Webhooks;

/// Which object of its site an object is: `index` of `count` (object 0 is the site's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub index: u32,
    pub count: u32,
}

impl Placement {
    /// The one object of an unsharded site.
    pub const SINGLE: Placement = Placement { index: 0, count: 1 };
}

/// What the object that keeps the site holds beside its sessions.
#[derive(Debug)]
pub(crate) struct Keeper {
    pub entities: Entities,
    pub webhooks: Webhooks,
    pub history: History,
    /// Whether history is kept (settings may turn it off for tests).
    pub keeps_history: bool,
}

impl Keeper {
    fn new(cfg: &Config) -> Self {
        Keeper {
            entities: Entities::new(cfg.leave_grace_ms),
            webhooks: Webhooks::default(),
            history: History::default(),
            keeps_history: cfg.history,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Role {
    /// With its own room slots (`MAX_ROOMS` over its own rooms).
    Single(Keeper, RoomSlots),
    Coordinator(Keeper, Box<Coordinator>),
    Shard(Box<Shard>),
}

impl Role {
    /// The role of the object at `placement`, as instance `instance`.
    pub fn new(cfg: &Config, placement: Placement, instance: u64) -> Role {
        let max_rooms = cfg.limits.max_rooms;
        match placement {
            Placement { index: 0, count } if count <= 1 => {
                Role::Single(Keeper::new(cfg), RoomSlots::new(max_rooms))
            }
            Placement { index: 0, count } => Role::Coordinator(
                Keeper::new(cfg),
                Box::new(Coordinator::new(instance, count, max_rooms)),
            ),
            Placement { index, .. } => Role::Shard(Box::new(Shard::new(
                index,
                cfg.broadcast_interval_ms,
                max_rooms,
            ))),
        }
    }

    /// The site's object learned that the site now has `count` objects (a deploy changed
    /// `"shards"`): it keeps what it keeps, and coordinates or stops coordinating.
    pub fn recount(self, count: u32, instance: u64, max_rooms: usize) -> Role {
        match self {
            Role::Single(k, _) | Role::Coordinator(k, _) if count <= 1 => {
                Role::Single(k, RoomSlots::new(max_rooms))
            }
            Role::Single(k, _) | Role::Coordinator(k, _) => {
                Role::Coordinator(k, Box::new(Coordinator::new(instance, count, max_rooms)))
            }
            shard => shard,
        }
    }

    pub fn keeper(&self) -> Option<&Keeper> {
        match self {
            Role::Single(k, _) | Role::Coordinator(k, _) => Some(k),
            Role::Shard(_) => None,
        }
    }

    pub fn keeper_mut(&mut self) -> Option<&mut Keeper> {
        match self {
            Role::Single(k, _) | Role::Coordinator(k, _) => Some(k),
            Role::Shard(_) => None,
        }
    }

    pub fn coordinator(&self) -> Option<&Coordinator> {
        match self {
            Role::Coordinator(_, c) => Some(c),
            _ => None,
        }
    }

    /// A room appeared, emptied or changed its distinct addresses here: the slots look again,
    /// and this object's tallies follow them. Answers whether the named rooms changed.
    pub fn refresh_slots(&mut self, local: &mut Local) -> bool {
        match self {
            Role::Single(_, slots) => {
                let upper = local.room_count();
                if !slots.update(upper, || local.room_stats()) {
                    return false;
                }
                local.follow(slots);
                true
            }
            Role::Coordinator(_, c) => {
                c.rooms_changed();
                c.refresh_slots(local)
            }
            Role::Shard(_) => false,
        }
    }

    /// Entity changes of this object's sessions: to the site's entities, here or (a shard) in
    /// the next report.
    pub fn route(&mut self, events: Vec<EntityEvent>) {
        match self {
            Role::Single(k, _) | Role::Coordinator(k, _) => {
                for e in events {
                    k.entities.apply(e, 0);
                }
            }
            Role::Shard(s) => {
                for e in events {
                    s.forward(e);
                }
            }
        }
    }

    /// What a socket viewing `room` (or the site alone) shows: this object's tallies for an
    /// unsharded site; its own plus its shards' reports on a coordinator; the coordinator's last
    /// totals corrected by its own changes since on a shard.
    pub fn view(&self, local: &Local, room: Option<&str>) -> View {
        match self {
            Role::Single(..) => View {
                site: local.site(),
                room: room.map(|r| local.room(r)),
            },
            Role::Coordinator(_, c) => c.view(local, room),
            Role::Shard(s) => s.view(local, room),
        }
    }

    /// The shards' anonymous sessions in `room` (a coordinator; nothing elsewhere).
    pub fn shards_anonymous(&self, room: &str) -> Counts {
        self.coordinator()
            .map(|c| c.anonymous(room))
            .unwrap_or_default()
    }

    /// When the role must be woken: the keeper's graces, webhooks and history minute, a
    /// coordinator's reports and pushes, a shard's next report.
    pub fn next_wake(&self, local: &Local) -> Option<Millis> {
        let keeper = self.keeper().map(|k| {
            [
                k.entities.next_wake(),
                k.webhooks.next_wake(),
                k.keeps_history.then(|| k.history.next_wake()).flatten(),
            ]
        });
        let shards = match self {
            Role::Coordinator(_, c) => c.next_wake(),
            Role::Shard(s) => s.due_at(local.holds_anything()),
            Role::Single(..) => None,
        };
        keeper.into_iter().flatten().chain([shards]).flatten().min()
    }
}
