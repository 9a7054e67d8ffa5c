//! The components the paths share: parameters, headers, the preflight's answer, and the
//! security schemes of the tokens.

use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::api::badge::{DEFAULT_LABEL, MAX_LABEL_CHARS};
use crate::api::words::schema as words;
use crate::api::{
    DEFAULT_HISTORY_RANGE, DEFAULT_ROOM, DEFAULT_ROOMS_LIMIT, MAX_ENTITIES, MAX_ROOMS_LIMIT,
};
use crate::presence::history::Range;

use super::reference;
use super::schemas::reference_to;

/// `components/parameters`.
pub fn parameters() -> Value {
    let query = |name: &str, schema: Value, description: String| json!({ "name": name, "in": "query", "description": description, "schema": schema });
    let with = |mut p: Value, extra: Value| {
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            p.extend(extra);
        }
        p
    };
    let room = reference_to::<words::Room>();
    let entities = json!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ENTITIES,
        "items": reference_to::<words::EntityId>(),
    });
    json!({
        "site": with(
            query("site", reference_to::<words::SiteKey>(), "The site key.".into()),
            json!({ "required": true, "example": "example.com" }),
        ),
        "room": with(
            query("room", room.clone(), "A room: its counts are answered too.".into()),
            json!({ "example": "/pricing" }),
        ),
        "membersRoom": with(
            query(
                "room",
                room.clone(),
                "The room whose members are answered; the watch token's `rooms` must allow it \
                 (exact rooms, or prefixes ending in `*`)."
                    .into(),
            ),
            json!({ "required": true, "example": "/docs" }),
        ),
        "limit": with(
            query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "default": DEFAULT_ROOMS_LIMIT }),
                format!(
                    "How many rooms at most: a whole number (digits only) of at least 1; larger \
                     values are clamped to {MAX_ROOMS_LIMIT}."
                ),
            ),
            json!({ "example": DEFAULT_ROOMS_LIMIT }),
        ),
        "range": query(
            "range",
            json!({
                "$ref": reference(&words::HistoryRange::schema_name()),
                "default": DEFAULT_HISTORY_RANGE.name(),
            }),
            format!("The range; anything but {} is 400.", ranges_text()),
        ),
        "statusEntities": with(
            query(
                "entity",
                entities.clone(),
                format!(
                    "The entities, comma-separated (`user:42,user:7`): 1 to {MAX_ENTITIES} \
                     distinct ids (a repeated id is dropped before counting; spaces around an id \
                     are ignored). Each must be allowed by the token's `watch` list (exact ids, or \
                     prefixes ending in `*`), else 403 `not_watchable`."
                ),
            ),
            json!({ "required": true, "style": "form", "explode": false, "example": ["user:42", "user:7"] }),
        ),
        "liveRoom": with(
            query(
                "room",
                room.clone(),
                format!(
                    "The room whose counts the socket receives besides the site's; with \
                     `session`, also the session's room (default `{DEFAULT_ROOM}`)."
                ),
            ),
            json!({ "example": "/pricing" }),
        ),
        "session": query(
            "session",
            reference_to::<words::SessionId>(),
            "Makes the socket itself a live session in `room`: no HTTP heartbeats are needed. It \
             ends when the socket closes cleanly (1000, 1001), or when no `ping` has arrived for \
             `ttl`. A session id seen both over HTTP and over a socket counts once."
                .into(),
        ),
        "visitor": query(
            "visitor",
            reference_to::<words::VisitorId>(),
            "The visitor of `session` (only with `session`, else 400).".into(),
        ),
        "liveEntity": query(
            "entity",
            reference_to::<words::EntityId>(),
            "The entity the socket's session carries: only with `session`, and with a track \
             token in `token`. Not together with `watch` or `members`."
                .into(),
        ),
        "watch": with(
            query(
                "watch",
                entities,
                format!(
                    "Entities whose `status` messages the socket receives, comma-separated: 1 to \
                     {MAX_ENTITIES} distinct ids, each allowed by the watch token's `watch` list \
                     (else 403 `not_watchable`). Needs a watch token in `token`."
                ),
            ),
            json!({ "style": "form", "explode": false }),
        ),
        "members": query(
            "members",
            room,
            "A room whose `members` messages the socket receives; the watch token's `rooms` must \
             allow it (else 403 `not_watchable`). Needs a watch token in `token`."
                .into(),
        ),
        "label": query(
            "label",
            json!({ "type": "string", "default": DEFAULT_LABEL }),
            format!(
                "The badge's label: shown as text (escaped, never markup); control characters \
                 are dropped, surrounding spaces trimmed, and past {MAX_LABEL_CHARS} characters \
                 it is cut with `…`."
            ),
        ),
        "upgrade": {
            "name": "Upgrade",
            "in": "header",
            "required": true,
            "description": "A WebSocket upgrade (`websocket`, any case) with the usual \
                            `Connection: Upgrade`, `Sec-WebSocket-Key` and \
                            `Sec-WebSocket-Version: 13`. Without it the answer is 426 \
                            `upgrade_required`.",
            "schema": { "type": "string", "examples": ["websocket"] },
        },
    })
}

/// `` `1h`, `24h` or `7d` ``
fn ranges_text() -> String {
    let names: Vec<String> = Range::ALL
        .iter()
        .map(|r| format!("`{}`", r.name()))
        .collect();
    let (last, rest) = names.split_last().expect("ranges");
    format!("{} or {last}", rest.join(", "))
}

/// `components/headers`.
pub fn headers() -> Value {
    json!({
        "CacheControlNoStore": {
            "required": true,
            "description": "API answers are never cached.",
            "schema": { "const": "no-store" },
        },
        "Vary": { "description": "`Origin`.", "schema": { "type": "string" } },
        "AccessControlAllowOrigin": {
            "description": "The request's `Origin`, echoed (when given and at most 255 characters).",
            "schema": { "type": "string" },
        },
    })
}

/// The answer of an allowed preflight (`components/responses/Preflight`).
pub fn preflight_response() -> Value {
    json!({
        "description": "The preflight is allowed.",
        "headers": {
            "Access-Control-Allow-Methods": { "required": true, "schema": { "const": "GET, POST, OPTIONS" } },
            "Access-Control-Allow-Headers": { "required": true, "schema": { "const": "Content-Type, Authorization" } },
            "Access-Control-Max-Age": { "required": true, "schema": { "const": "86400" } },
            "Access-Control-Allow-Origin": { "$ref": "#/components/headers/AccessControlAllowOrigin" },
            "Vary": { "$ref": "#/components/headers/Vary" },
        },
    })
}

/// `components/securitySchemes`: the tokens.
pub fn security_schemes() -> Value {
    json!({
        "watchToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A watch token: `{\"site\":S,\"sub\":\"agent:7\",\"scope\":\"watch\",\
                            \"watch\":[\"user:42\",\"customer:*\"],\"rooms\":[\"/docs/*\",\
                            \"support\"],\"exp\":...}`, HS256 with the site's secret.",
        },
        "statsToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A stats token, for sites with `\"private_stats\": true`: \
                            `{\"site\":S,\"sub\":\"owner\",\"scope\":\"stats\",\"exp\":...}`, \
                            HS256 with the site's secret.",
        },
        "trackTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "A track token for the socket's `entity`: \
                            `{\"site\":S,\"sub\":\"user:42\",\"scope\":\"track\",\"exp\":...}` \
                            (optionally `info`).",
        },
        "watchTokenQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "A watch token for the socket's `watch` entities and `members` room \
                            (see `watchToken`).",
        },
    })
}
