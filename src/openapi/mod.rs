//! The OpenAPI 3.1 document of the `/v1` API (`public/openapi.json`, which the Worker serves at
//! `GET /v1/openapi.json`), derived from the code that answers (native builds only; nothing of
//! this is in the Worker's Wasm):
//!
//! - paths, methods, `Allow`, `HEAD`, preflights, the 405 of other methods and each route's error
//!   answers from the routes table ([`crate::api::routes`]);
//! - every error code with its status, its meaning and a real message from
//!   [`crate::api::error`] (`ErrorCode`, `ApiError`);
//! - the schemas of answers, socket messages, webhooks and the ping from their Rust types
//!   (`schemars` derives, doc comments as descriptions), the words' schemas from the rules the
//!   validators use ([`crate::api::words`]), limits from the constants that enforce them;
//! - what no type holds (operation summaries and descriptions, the introduction, security
//!   schemes, headers) in [`operations`], [`components`], [`webhooks`] and below.
//!
//! `cargo test` fails when `public/openapi.json` is not exactly [`text()`]; `npm run openapi`
//! (`HERENOW_WRITE_OPENAPI=1 cargo test --lib openapi`) writes it.
//!
//! Conventions of the document, beyond plain OpenAPI (the tests' validator reads them):
//! - `x-herenow-other-methods` on a path item: the answers of any method the path item does not
//!   list (405 `method_not_allowed` with `Allow` for the API's paths, 404 for unknown paths);
//! - `x-herenow-head: true` on a `GET` operation: `HEAD` answers as that `GET`, without a body;
//! - `x-herenow-unknown-paths` at the top: which path item describes every `/v1` path not listed;
//! - `x-herenow-socket` on `GET /v1/live`: the socket's messages, as schemas, and close codes.

mod components;
mod errors;
mod operations;
mod paths;
mod schemas;
pub mod text;
mod webhooks;

use serde_json::{json, Map, Value};

use crate::api::words::{AsciiWord, ID, ROOM_MAX_CHARS, ROOM_MIN_CHARS, SITE};
use crate::api::DEFAULT_ROOM;
use crate::presence::{Config, OVERFLOW_ROOM};
use crate::token::{AUDIENCE, LEEWAY_SECS, MAX_INFO_BYTES, MAX_LIFETIME_SECS};

/// The file the Worker serves, from the crate's root.
pub const FILE: &str = "public/openapi.json";

/// A reference to the schema `name`.
fn reference(name: &str) -> String {
    format!("#{}/{name}", schemas::SCHEMAS)
}

/// A reference to the response `name`.
fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The document.
pub fn document() -> Value {
    let mut responses = Map::new();
    responses.insert("Preflight".into(), components::preflight_response());
    for kind in errors::Kind::ALL {
        responses.extend(kind.response_components());
    }
    responses.extend(errors::method_not_allowed_components());
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "herenow",
            "version": "1.0.0",
            "summary": "Live presence at the edge: who is here right now.",
            "description": introduction(),
            "license": { "name": "MIT", "identifier": "MIT" },
        },
        "servers": [{ "url": "/", "description": "The Worker that serves this document." }],
        "tags": [
            { "name": "Presence", "description": "Sessions and live counts." },
            { "name": "Stats", "description": "History, for the owner's dashboard." },
            { "name": "Entities", "description": "Who is online: private presence, with tokens." },
            { "name": "Live", "description": "The WebSocket feed." },
            { "name": "Developer", "description": "The badge and this document." },
            { "name": "CORS", "description": "Preflights." },
            { "name": "Errors", "description": "Paths the API does not have." },
        ],
        "paths": paths::paths(),
        "webhooks": webhooks::webhooks(),
        "components": {
            "schemas": schemas::schemas(),
            "parameters": components::parameters(),
            "headers": components::headers(),
            "responses": responses,
            "securitySchemes": components::security_schemes(),
        },
        "x-herenow-unknown-paths": paths::UNKNOWN_PATH,
    })
}

/// The document as `public/openapi.json` holds it.
pub fn text() -> String {
    let mut out = serde_json::to_string_pretty(&document()).expect("JSON values serialize");
    out.push('\n');
    out
}

/// `info.description`: the API in a few paragraphs.
fn introduction() -> String {
    let defaults = Config::default();
    let rule = |w: AsciiWord| format!("{}-{} of `{}`", w.min, w.max, w.charset_text());
    [
        "Live presence at the edge: who is here right now, on Cloudflare Workers and Durable \
         Objects."
            .to_owned(),
        "Pages report their sessions (`POST /v1/ping`, or a `/v1/live` socket that carries a \
         session); anyone may read a site's live counts (`/v1/count`, `/v1/rooms`, `/v1/live`, \
         `/v1/badge.svg`); holders of tokens issued by the site's own back end see entities \
         (\"who is online\": `/v1/status`, `/v1/members`, watching sockets) and, for sites with \
         private stats, the rooms and the history."
            .to_owned(),
        format!(
            "**Words.** A *site* is a configured key ({}). A *room* is where on the site a \
             session is ({ROOM_MIN_CHARS}-{ROOM_MAX_CHARS} characters, no control characters, \
             default `{DEFAULT_ROOM}`). A *session* is one tab or connection ({}, \
             client-generated); a *visitor* is one browser (same charset; a session without one \
             counts as its own visitor). `sessions` and `visitors` are the live sessions and the \
             distinct visitors among them. A session is live from its join until its leave, its \
             socket's close, or `ttl` without a sign of life. Past `MAX_ROOMS` rooms, sessions \
             are counted in the room `{OVERFLOW_ROOM}`.",
            rule(SITE),
            rule(ID),
        ),
        "**Requests.** Query strings are percent-encoded UTF-8; a repeated parameter is 400. \
         Requests for a site that is not configured are 403 `unknown_site`; a request whose \
         `Origin` is not among the site's origins is 403 `forbidden_origin` (a request without \
         `Origin`, from a server, is allowed). Answers carry `Access-Control-Allow-Origin` for \
         the page that asked (errors too, so a page can read why it was refused). Pings and \
         session sockets from an obvious bot's `User-Agent` are 403 `bot` and count nothing."
            .to_owned(),
        format!(
            "**Answers.** All answers are JSON (`Cache-Control: no-store`) except the badge \
             (SVG), the 101 of a socket and the 204 of a preflight. Errors are \
             `{{\"error\":{{\"code\":\"<snake_case>\",\"message\":\"<one sentence for a \
             person>\"}}}}`: {}. Each operation lists the codes it can answer, by status. A \
             rejected request changes no count.",
            errors::codes_by_status()
        ),
        format!(
            "**Timing.** A join, a leave and a clean socket close reach every subscribed socket \
             within `BROADCAST_INTERVAL_MS` (default {}) + 250 ms; a session that dies silently \
             stops counting within `ttl` (default {} s) + 2 s. Heartbeats write nothing to \
             storage.",
            defaults.broadcast_interval_ms,
            defaults.ttl_ms / 1000
        ),
        format!(
            "**Tokens.** HS256 JWTs signed with the site's secret (`secret_env`, which may list \
             several secrets, newest first, for rotation; a header `kid` picks one by name). \
             Claims `site`, `sub`, `scope` and `exp` (at most {} days ahead; `exp` and `nbf` get \
             {LEEWAY_SECS} s of leeway); `aud`, when present, must be the string `{AUDIENCE}`. A \
             *track* token (`\"scope\":\"track\"`, `sub` the entity, optional `info` object of at \
             most {MAX_INFO_BYTES} bytes) lets a session carry that entity; a *watch* token \
             (`\"scope\":\"watch\"`, `watch` and `rooms` lists of exact ids or prefixes ending in \
             `*`) lets its holder read those entities and rooms; a *stats* token \
             (`\"scope\":\"stats\"`) opens the rooms and history of a site with private stats. \
             Entities are never exposed without a token.",
            MAX_LIFETIME_SECS / 86_400.0
        ),
        format!(
            "**Conventions of this document.** Every `GET` operation marked `x-herenow-head` also \
             answers `HEAD` (same status and headers, no body). `x-herenow-other-methods` on a \
             path gives the answers of any method the path does not list (405 with `Allow`). \
             `{}` stands for every path under `/v1` not listed (404). `x-herenow-socket` on `GET \
             /v1/live` names the socket's message schemas. `webhooks` describes the POSTs a \
             site's back end receives when it configures `webhook`.",
            paths::UNKNOWN_PATH
        ),
    ]
    .join("\n\n")
}

#[cfg(test)]
mod tests;
