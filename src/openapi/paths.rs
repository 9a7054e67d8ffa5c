//! `paths`, `webhooks` and the components they share (parameters, headers, responses, security
//! schemes): one path item per route of the routes table, with the operation of its method,
//! its preflight and its answers to other methods, and the item of every other `/v1` path.

use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::api::answers::{CountAnswer, PingAnswer, RoomsAnswer, StatusAnswer};
use crate::api::badge::{DEFAULT_LABEL, MAX_LABEL_CHARS};
use crate::api::error::Allow;
use crate::api::routes::{Op, Route, ROUTES};
use crate::api::words::schema as words;
use crate::api::{
    Ping, DEFAULT_HISTORY_RANGE, DEFAULT_ROOM, DEFAULT_ROOMS_LIMIT, MAX_ENTITIES, MAX_PING_BYTES,
    MAX_ROOMS_LIMIT,
};
use crate::presence::entities::State;
use crate::presence::history::HistoryAnswer;
use crate::presence::messages::{
    CountMessage, MembersList, MembersMessage, StatusMessage, AWAY, BACK, PING,
};
use crate::presence::types::{MAX_SOCKET_MESSAGE_BYTES, SUBSCRIBER_IDLE_MIN_MS};
use crate::presence::webhooks::schema::EVENTS;
use crate::presence::webhooks::WebhookEvent;
use crate::presence::WebhookEvents;

use super::errors::{method, other_methods, Kind};
use super::schemas::reference_to;
use super::{reference, response_ref, text};

/// The path item of every `/v1` path the routes table does not have.
pub const UNKNOWN_PATH: &str = "/v1/{unknown}";

/// What a route's operation says, beyond what the routes table knows.
struct Operation {
    /// The path item's summary.
    about: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: String,
    /// The security requirements (`[]`: none, the default of this document).
    security: Value,
    parameters: &'static [&'static str],
    /// The answer of success: (status, response).
    ok: (u16, Value),
}

/// The path items, in the order of the routes table, then that of unknown paths.
pub fn paths() -> Map<String, Value> {
    let mut out: Map<String, Value> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), path_item(r)))
        .collect();
    out.insert(UNKNOWN_PATH.into(), unknown_path());
    out
}

fn path_item(route: &Route) -> Value {
    let op = operation(route.op);
    let mut operation = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "security": op.security,
    });
    if !op.parameters.is_empty() {
        let parameters: Vec<Value> = op
            .parameters
            .iter()
            .map(|p| json!({ "$ref": format!("#/components/parameters/{p}") }))
            .collect();
        operation["parameters"] = parameters.into();
    }
    let mut responses = Map::new();
    responses.insert(op.ok.0.to_string(), op.ok.1);
    responses.extend(Kind::of(route.op).responses());
    if route.op == Op::Ping {
        operation["requestBody"] = ping_body();
    }
    if route.op == Op::Live {
        operation["x-herenow-socket"] = socket();
    }
    operation["responses"] = responses.into();
    if route.allow == Allow::Get {
        operation["x-herenow-head"] = true.into();
    }
    let mut item = Map::new();
    item.insert("summary".into(), op.about.into());
    item.insert("description".into(), allow_text(route.allow).into());
    item.insert(method(route.allow).to_lowercase(), operation);
    item.insert(
        "options".into(),
        preflight(
            &format!("preflight{:?}", route.op),
            &format!("`{} {}`", method(route.allow), route.path),
        ),
    );
    item.insert("x-herenow-other-methods".into(), other_methods(route.allow));
    Value::Object(item)
}

/// What a path answers, by the methods it allows.
fn allow_text(allow: Allow) -> String {
    let header = allow.header();
    match allow {
        Allow::Get => format!(
            "Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with \
             `Allow: {header}`."
        ),
        Allow::Post => format!(
            "Answers `POST` (and the CORS preflight); any other method is 405 \
             `method_not_allowed` with `Allow: {header}`."
        ),
        Allow::Upgrade => format!(
            "Answers only `GET` with a WebSocket upgrade (and the CORS preflight): a `GET` \
             without one is 426 `upgrade_required`; any other method, `HEAD` included, is 405 \
             with `Allow: {header}`."
        ),
    }
}

/// A JSON answer of `T`.
fn json_answer<T: JsonSchema>(description: &str) -> Value {
    json!({
        "description": description,
        "headers": json_headers(),
        "content": { "application/json": { "schema": reference_to::<T>() } },
    })
}

/// The headers of every JSON answer of the API.
pub fn json_headers() -> Map<String, Value> {
    let header = |name: &str| json!({ "$ref": format!("#/components/headers/{name}") });
    let mut out = Map::new();
    out.insert("Cache-Control".into(), header("CacheControlNoStore"));
    out.insert("Vary".into(), header("Vary"));
    out.insert(
        "Access-Control-Allow-Origin".into(),
        header("AccessControlAllowOrigin"),
    );
    out
}

fn operation(op: Op) -> Operation {
    let none = json!([]);
    let stats = json!([{}, { "statsToken": [] }]);
    let watch = json!([{ "watchToken": [] }]);
    match op {
        Op::Ping => Operation {
            about: "Report a session: join, heartbeat, leave or away",
            id: "ping",
            tag: "Presence",
            summary: "Join, heartbeat, leave or away",
            description: format!(
                "Reports a session's event. The body is JSON, sent as `application/json` or \
                 `text/plain` (so that `navigator.sendBeacon` works; no `Content-Type` is \
                 accepted too; any other is 400), at most {} (413 `too_large`). A heartbeat for \
                 an unknown session is a join; a leave for an unknown session changes nothing; a \
                 heartbeat may carry a different `room`. Heartbeats write nothing to storage. \
                 With `entity` and a track `token`, the session carries that entity (see `GET \
                 /v1/status`).\n\nThe checks run in order: the body (413, 400), the site (403 \
                 `unknown_site`, `forbidden_origin`), entities (403 `entities_disabled`), bots \
                 (403 `bot`), the token (401 `bad_token`), the rate limit (429), the site's \
                 ceiling (503 `site_full`). A rejected request changes no count.",
                text::size(MAX_PING_BYTES)
            ),
            security: none,
            parameters: &[],
            ok: (
                200,
                json_answer::<PingAnswer>(
                    "The counts of the site and of the ping's room, after the ping.",
                ),
            ),
        },
        Op::Count => Operation {
            about: "Live counts of a site (and a room)",
            id: "getCount",
            tag: "Presence",
            summary: "Sessions and visitors of a site, and of a room",
            description: "Public (no token, even for sites with private stats). `room` in the \
                          answer only when the query names one."
                .into(),
            security: none,
            parameters: &["site", "room"],
            ok: (200, json_answer::<CountAnswer>("The counts.")),
        },
        Op::Rooms => Operation {
            about: "The busiest rooms of a site",
            id: "listRooms",
            tag: "Presence",
            summary: "The busiest rooms, busiest first",
            description: format!(
                "The site's counts and its rooms with live sessions, busiest first, at most \
                 `limit` (default {DEFAULT_ROOMS_LIMIT}, at most {MAX_ROOMS_LIMIT}). A site \
                 with `\"private_stats\": true` answers only with a stats token \
                 (`Authorization: Bearer`), else 401 `bad_token`."
            ),
            security: stats,
            parameters: &["site", "limit"],
            ok: (200, json_answer::<RoomsAnswer>("The rooms.")),
        },
        Op::History => Operation {
            about: "A site's counts over time",
            id: "getHistory",
            tag: "Stats",
            summary: "Counts over the last hour, day or week, with the peak",
            description: format!(
                "Steps: {}; each point holds the highest `sessions` and `visitors` of its step; \
                 `peak` is the highest point (`null` when all are 0). History survives restarts \
                 and covers at least 7 days. A site with `\"private_stats\": true` answers only \
                 with a stats token, else 401 `bad_token`.",
                history_steps()
            ),
            security: stats,
            parameters: &["site", "range"],
            ok: (200, json_answer::<HistoryAnswer>("The history.")),
        },
        Op::Status => Operation {
            about: "Who is online: the status of entities",
            id: "getStatus",
            tag: "Entities",
            summary: "Online, away or offline, with last seen",
            description: "Needs a watch token (`Authorization: Bearer`) whose `watch` list allows \
                          every entity asked for. An entity is online while any of its sessions \
                          is visible, away while it has sessions but none visible, and offline \
                          only `LEAVE_GRACE_MS` after its last session ended with no new one (so \
                          a reload never flaps). A site without `secret_env` answers 403 \
                          `entities_disabled`."
                .into(),
            security: watch,
            parameters: &["site", "statusEntities"],
            ok: (200, json_answer::<StatusAnswer>("The statuses.")),
        },
        Op::Members => Operation {
            about: "Who is in a room, with faces",
            id: "getMembers",
            tag: "Entities",
            summary: "The entities in a room, with their member info",
            description: "Needs a watch token whose `rooms` list allows the room (exact rooms, or \
                          prefixes ending in `*`), else 403 `not_watchable`. A site without \
                          `secret_env` answers 403 `entities_disabled`."
                .into(),
            security: watch,
            parameters: &["site", "membersRoom"],
            ok: (200, json_answer::<MembersList>("The members.")),
        },
        Op::Live => Operation {
            about: "Live counts, statuses and members over a WebSocket",
            id: "openLive",
            tag: "Live",
            summary: "Open a live socket",
            description: live_description(),
            security: json!([{}, { "trackTokenQuery": [] }, { "watchTokenQuery": [] }]),
            parameters: &[
                "site",
                "liveRoom",
                "session",
                "visitor",
                "liveEntity",
                "watch",
                "members",
                "upgrade",
            ],
            ok: (
                101,
                json!({
                    "description": "Switching Protocols: the socket is open; the first `count` \
                                    message follows at once.",
                    "headers": {
                        "Upgrade": {
                            "required": true,
                            "schema": { "type": "string", "pattern": "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$" },
                        },
                        "Connection": {
                            "required": true,
                            "schema": { "type": "string", "pattern": "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]" },
                        },
                        "Sec-WebSocket-Accept": { "required": true, "schema": { "type": "string", "minLength": 1 } },
                    },
                }),
            ),
        },
        Op::Badge => Operation {
            about: "An \"online now | 42\" badge",
            id: "getBadge",
            tag: "Developer",
            summary: "An SVG badge of the live count",
            description: "For pages without JavaScript, READMEs and e-mails: the sessions of the \
                          site (or of `room`), as 999, then 1.2k, 12k, 1.2M; green while someone \
                          is there, grey otherwise. Cached at most 10 s. Errors are JSON."
                .into(),
            security: none,
            parameters: &["site", "room", "label"],
            ok: (
                200,
                json!({
                    "description": "The badge.",
                    "headers": {
                        "Cache-Control": {
                            "required": true,
                            "description": "At most 10 s.",
                            "schema": { "const": "public, max-age=10" },
                        },
                        "Access-Control-Allow-Origin": { "required": true, "schema": { "const": "*" } },
                        "X-Content-Type-Options": { "schema": { "const": "nosniff" } },
                        "Content-Security-Policy": { "schema": { "type": "string" } },
                    },
                    "content": {
                        "image/svg+xml": { "schema": { "type": "string", "pattern": "^<svg [\\s\\S]*</svg>$" } },
                    },
                }),
            ),
        },
        Op::OpenApi => Operation {
            about: "This document",
            id: "getOpenApi",
            tag: "Developer",
            summary: "The OpenAPI 3.1 document of this API",
            description: "Any origin may read it (`Access-Control-Allow-Origin: *`); cached for 5 \
                          minutes."
                .into(),
            security: none,
            parameters: &[],
            ok: (
                200,
                json!({
                    "description": "The document.",
                    "headers": {
                        "Cache-Control": { "required": true, "schema": { "const": "public, max-age=300" } },
                        "Access-Control-Allow-Origin": { "required": true, "schema": { "const": "*" } },
                    },
                    "content": { "application/json": { "schema": { "$ref": reference("OpenApiDocument") } } },
                }),
            ),
        },
    }
}

/// `` `1h` 60,000 ms (60 points), ... ``
fn history_steps() -> String {
    let steps: Vec<String> = crate::presence::history::Range::ALL
        .iter()
        .map(|r| {
            format!(
                "`{}` {} ms ({} points)",
                r.name(),
                text::count(r.step_ms() as usize),
                r.points()
            )
        })
        .collect();
    steps.join(", ")
}

fn live_description() -> String {
    let schema = |name: &str| format!("[`{name}`](#/components/schemas/{name})");
    let max = text::size(MAX_SOCKET_MESSAGE_BYTES);
    let idle = text::duration(SUBSCRIBER_IDLE_MIN_MS);
    [
        "A WebSocket. Messages (schemas under `components/schemas`, and in `x-herenow-socket`):"
            .to_owned(),
        String::new(),
        format!(
            "- server -> client: {} at once on open (with `heartbeat_ms` and `ttl_ms`) and \
             whenever the counts change, throttled by `BROADCAST_INTERVAL_MS`; with `watch`, a {} \
             per entity on open and on every change; with `members`, a {} on open and on every \
             change; {} (the text `pong`) for each `ping`.",
            schema(&CountMessage::schema_name()),
            schema(&StatusMessage::schema_name()),
            schema(&MembersMessage::schema_name()),
            schema("PongMessage"),
        ),
        format!(
            "- client -> server: {} (`{PING}`) every heartbeat; on a socket that carries a \
             session, {} (`{AWAY}`) when the page is hidden and {} (`{BACK}`) when it is shown \
             again.",
            schema("PingText"),
            schema("AwayText"),
            schema("BackText"),
        ),
        String::new(),
        format!(
            "With `session`, the socket is itself a live session in `room` (no HTTP heartbeats \
             needed), ending when the socket closes cleanly (1000, 1001: at once, even if the \
             session also sent HTTP heartbeats) or when no `ping` has arrived for `ttl` (the \
             server then closes it with 1001); an abnormal close (1006) leaves any HTTP hold to \
             run out. A plain subscriber that never pings is closed after at least {idle}. A \
             message over {max} closes the socket with 1009."
        ),
        String::new(),
        "Tokens go in the query (`token`): a track token with `entity`, a watch token with \
         `watch` or `members`. The checks run in order: the upgrade (426), the query (400), the \
         site (403 `unknown_site`, `forbidden_origin`), entities (403 `entities_disabled`), bots \
         when the socket carries a session (403 `bot`), the token (401, 403 `not_watchable`), \
         the rate limit (429), the site's ceilings (503 `site_full`, `too_many_sockets`). A \
         refused upgrade is an HTTP answer with the usual JSON error."
            .to_owned(),
    ]
    .join("\n")
}

/// `x-herenow-socket`: the messages each side sends, and the close codes.
fn socket() -> Value {
    let max = text::size(MAX_SOCKET_MESSAGE_BYTES);
    let idle = text::duration(SUBSCRIBER_IDLE_MIN_MS);
    json!({
        "subprotocols": [],
        "serverMessages": { "$ref": reference("LiveServerMessage") },
        "clientMessages": { "$ref": reference("LiveClientMessage") },
        "closeCodes": {
            "1000": "closed (the server completes a close the client began)",
            "1001": format!(
                "the session fell silent: no `{PING}` for `ttl` (or, for a plain subscriber, for \
                 {idle} or 20 `ttl`)"
            ),
            "1009": format!("a message over {max}"),
            "1011": "the socket lost its state in a restart",
        },
    })
}

/// The body of `POST /v1/ping`: JSON, also as `text/plain` (for `navigator.sendBeacon`).
fn ping_body() -> Value {
    json!({
        "required": true,
        "description": "The ping, as JSON.",
        "content": {
            "application/json": { "schema": reference_to::<Ping>() },
            "text/plain": {
                "schema": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": reference_to::<Ping>(),
                },
            },
        },
    })
}

const PREFLIGHT_TEXT: &str = "The CORS preflight a browser sends before a request it may not \
    send directly (a JSON ping, a request with `Authorization`). A `site` named in the query \
    must be configured (else 403 `unknown_site`, with or without an `Origin`) and allow the \
    page's `Origin` (else 403 `forbidden_origin`); without `site` in the query, some configured \
    site must allow it (else 403 `forbidden_origin`).";

fn preflight(id: &str, what: &str) -> Value {
    let mut responses = Map::new();
    responses.insert("204".into(), response_ref("Preflight"));
    responses.extend(Kind::Preflight.responses());
    json!({
        "operationId": id,
        "tags": ["CORS"],
        "summary": format!("CORS preflight of {what}"),
        "description": PREFLIGHT_TEXT,
        "security": [],
        "parameters": [{
            "name": "site",
            "in": "query",
            "description": "The site whose origins decide (pings name it in the body: then any \
                            configured site's origins do).",
            "schema": { "type": "string" },
        }],
        "responses": responses,
    })
}

fn unknown_path() -> Value {
    let mut responses = Kind::UnknownPath.responses();
    json!({
        "summary": "Any other path under /v1",
        "description": "Every path under `/v1` that is not listed above (`/v1` and `/v1/` \
                        themselves, deeper paths such as `/v1/ping/extra`, and any method but \
                        `OPTIONS`) answers 404 `not_found`. `OPTIONS` is the CORS preflight, as \
                        everywhere.",
        "parameters": [{
            "name": "unknown",
            "in": "path",
            "required": true,
            "description": "Any path not listed above.",
            "schema": { "type": "string" },
        }],
        "get": {
            "operationId": "unknownPath",
            "tags": ["Errors"],
            "summary": "Not found",
            "security": [],
            "responses": responses.clone(),
            "x-herenow-head": true,
        },
        "options": preflight("preflightUnknown", "any path"),
        "x-herenow-other-methods": std::mem::take(&mut responses),
    })
}

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
    let names: Vec<String> = crate::presence::history::Range::ALL
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

/// `webhooks`: the POST of each event a site's back end may subscribe to.
pub fn webhooks() -> Map<String, Value> {
    EVENTS
        .iter()
        .map(|&state| {
            let name = WebhookEvents::name(state);
            let when = match state {
                State::Online => {
                    "An entity came online (not when a reload inside the grace brings it back)."
                }
                State::Away => "Its last visible session went away.",
                State::Offline => "The grace has passed with no session.",
            };
            let post = json!({
                "operationId": format!("webhook_{}", name.replace('.', "_")),
                "tags": ["Entities"],
                "summary": format!("The site's back end is told: {name}"),
                "description": format!(
                    "{when} Sent to the site's `webhook.url` (`https://`, or `http://127.0.0.1` / \
                     `http://localhost` for local testing) when the site subscribes to the event."
                ),
                "security": [],
                "parameters": [{
                    "name": "Herenow-Signature",
                    "in": "header",
                    "required": true,
                    "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`, \
                                    signed with the first of the site's secrets.",
                    "schema": { "type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$" },
                }],
                "requestBody": {
                    "required": true,
                    "content": {
                        "application/json": {
                            "schema": {
                                "$ref": reference(&WebhookEvent::schema_name()),
                                "type": "object",
                                "properties": { "type": { "const": name } },
                            },
                        },
                    },
                },
                "responses": {
                    "2XX": { "description": "Delivered." },
                    "default": {
                        "description": format!(
                            "Any other answer (or a network error) is retried with growing delays \
                             for at least {}.",
                            text::duration(crate::presence::webhooks::GIVE_UP_AFTER_MS)
                        ),
                    },
                },
            });
            (name.to_owned(), json!({ "post": post }))
        })
        .collect()
}
