//! herenow: live presence at the edge.
//!
//! - [`api`]: the public HTTP API: request parsing, validation, error codes, and the typed call
//!   the Worker sends a site's object.
//! - [`config`]: sites, origins and presence settings from the Worker's vars.
//! - [`bots`]: obvious bots by User-Agent.
//! - [`presence`]: the presence core (sessions, rooms, visitors, expiry, the broadcast
//!   throttle, entities): no I/O, answers every input with effects.
//! - [`token`]: HS256 entity tokens (track and watch).
//! - [`visitor`]: hashing visitor ids.
//! - `worker` (wasm only): the Worker's router, the thin edge in front of the objects.
//! - `object` (wasm only): the per-site Durable Object adapter around the core.
//! - `http` (wasm only): JSON responses and errors, and calls to objects, shared by both.
//! - [`log`]: the JSON log lines of both.

// The Worker and the object (wasm32 only) are what use most of the crate: the compiler names
// dead code in the wasm32 builds; natively only the core's tests run.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]

pub(crate) mod api;
pub(crate) mod bots;
pub(crate) mod config;
pub(crate) mod log;
#[cfg(not(target_arch = "wasm32"))]
mod openapi;
pub(crate) mod presence;
pub(crate) mod sort;
pub(crate) mod token;
pub(crate) mod visitor;

#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod object;
#[cfg(target_arch = "wasm32")]
mod worker;
