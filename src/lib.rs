//! herenow: live presence at the edge.
//!
//! - [`api`]: the public HTTP API: request parsing, validation, error codes.
//! - [`config`]: sites, origins and timing from the Worker's vars.
//! - [`bots`]: obvious bots by User-Agent.
//! - [`presence`]: the presence core (sessions, rooms, visitors, expiry, broadcast throttle).
//! - [`entities`]: who is online: entities, their grace and last-seen time (part of the core).
//! - [`token`]: HS256 entity tokens (track and watch).
//! - [`visitor`]: hashing visitor ids.
//! - `worker` (wasm only): the Worker's router, the thin edge in front of the objects.
//! - `object` (wasm only): the per-site Durable Object adapter around the core.

pub mod api;
pub mod bots;
pub mod config;
pub mod entities;
pub mod presence;
pub mod token;
pub mod visitor;

#[cfg(target_arch = "wasm32")]
mod object;
#[cfg(target_arch = "wasm32")]
mod worker;
