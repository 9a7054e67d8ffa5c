//! One site over many objects: the protocol between them, produced and applied side by side.
//!
//! A site with `"shards": K` is spread over K objects. Object 0 (named after the site, the same
//! object an unsharded site has) is the **coordinator** (`coordinator.rs`); objects 1..K are
//! **shards** (`shard.rs`). The Worker places every session of a visitor on one object (by a
//! hash of the visitor id, [`place`]), so distinct visitors add up across objects exactly, and
//! spreads plain subscriber sockets over all of them.
//!
//! The protocol (`protocol.rs`): a shard sends [`Report`]s (its tallies, the rooms its sockets
//! view, its entity sessions' [`EntityEvent`]s) at most once per broadcast interval plus a
//! keepalive, never per ping; the coordinator answers each with the site's [`Totals`] and pushes
//! new totals to shards with sockets or sessions when they change. Entities live on the
//! coordinator; a shard forwards its entity sessions' starts, ends and signs of life (a full
//! list after either side restarted).

mod coordinator;
mod protocol;
mod shard;
#[cfg(test)]
mod tests;

pub(crate) use coordinator::Coordinator;
#[cfg(test)]
pub use coordinator::REPORT_TTL_MS;
pub use protocol::{EntityEvent, Report, ShardCall, Totals};
pub(crate) use shard::Shard;

use super::types::{Counts, RoomCounts};

/// Which of `k` objects holds the sessions of this visitor (or of this session, when it has no
/// visitor): FNV-1a of the id. Stable across Workers and deploys; not a secret.
pub fn place(k: u32, visitor_or_session: &str) -> u32 {
    if k <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in visitor_or_session.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(k)) as u32
}

pub(crate) fn add(a: Counts, b: Counts) -> Counts {
    Counts {
        sessions: a.sessions + b.sessions,
        visitors: a.visitors + b.visitors,
    }
}

pub(crate) fn counts_of(r: &RoomCounts) -> Counts {
    Counts {
        sessions: r.sessions,
        visitors: r.visitors,
    }
}
