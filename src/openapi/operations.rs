//! What each route's operation says beyond what the routes table knows: its id, tag, summary,
//! description, security, parameters and answer of success (the errors come from the table).

use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::api::answers::{CountAnswer, PingAnswer, RoomsAnswer, StatusAnswer};
use crate::api::routes::Op;
use crate::api::words::SIGNAL as SIGNAL_NAME;
use crate::api::{
    Ping, DEFAULT_ROOMS_LIMIT, MAX_PING_BYTES, MAX_PING_WITH_TOKEN_BYTES, MAX_ROOMS_LIMIT,
};
use crate::presence::history::{HistoryAnswer, Range};
use crate::presence::messages::{
    CountMessage, ErrorMessage as SocketErrorMessage, MembersList, MembersMessage, StatusMessage,
    AWAY, BACK, PING, SIGNAL, SIGNAL_END, TOKEN_PREFIX,
};
use crate::presence::types::{MAX_SOCKET_MESSAGE_BYTES, SUBSCRIBER_IDLE_MIN_MS};
use crate::presence::{BUDGET_WINDOW_MS, MESSAGE_BUDGET, TOKEN_EXPIRED, TOO_MANY_MESSAGES};
use crate::presence::{MAX_NEW_SIGNALS_PER_SECOND, MAX_SIGNALS};

use super::paths::json_headers;
use super::schemas::reference_to;
use super::{reference, text};

/// What a route's operation says, beyond what the routes table knows.
pub struct Operation {
    /// The path item's summary.
    pub about: &'static str,
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: String,
    /// The security requirements (`[]`: none, the default of this document).
    pub security: Value,
    pub parameters: &'static [&'static str],
    /// The answer of success: (status, response).
    pub ok: (u16, Value),
}

/// The operation of a route.
pub fn of(op: Op) -> Operation {
    match op {
        Op::Ping => ping(),
        Op::Count => count(),
        Op::Rooms => rooms(),
        Op::History => history(),
        Op::Status => status(),
        Op::Members => members(),
        Op::Live => live(),
        Op::Badge => badge(),
        Op::OpenApi => open_api(),
    }
}

fn ping() -> Operation {
    Operation {
        about: "Report a session: join, heartbeat, leave or away",
        id: "ping",
        tag: "Presence",
        summary: "Join, heartbeat, leave or away",
        description: format!(
            "Reports a session's event. The body is JSON, sent as `application/json` or \
             `text/plain` (so that `navigator.sendBeacon` works; no `Content-Type` is \
             accepted too; any other is 400), at most {} ({} with a track `token`; 413 \
             `too_large`). A heartbeat for an unknown session is a join; a leave for an \
             unknown session changes nothing; a heartbeat may carry a different `room`. \
             Heartbeats write nothing to storage. With `entity` and a track `token`, the \
             session carries that entity (see `GET /v1/status`); every later ping of that \
             session carries them too (else 401 `bad_token`, nothing changes). The events \
             `signal` and `signal_end` begin (or renew) and end the signal named in `signal` \
             ({}) of such a session: it lasts `SIGNAL_TTL_MS` (`signal_ttl_ms`) unless sent \
             again, at most {MAX_SIGNALS} at once and {MAX_NEW_SIGNALS_PER_SECOND} new ones a \
             second (429 `rate_limited`).\n\nThe checks \
             run in order: the body (413, 400), the site (403 `unknown_site`, \
             `forbidden_origin`), entities (403 `entities_disabled`), bots (403 `bot`), the \
             token (401 `bad_token`), the rate limit (429 `rate_limited`), the site's ceiling \
             (503 `site_full`) and the address's (429 `too_many_from_address`). A rejected \
             request changes no count.",
            text::size(MAX_PING_BYTES),
            text::size(MAX_PING_WITH_TOKEN_BYTES),
            SIGNAL_NAME.rule_text(),
        ),
        security: json!([]),
        parameters: &[],
        ok: (
            200,
            json_answer::<PingAnswer>(
                "The counts of the site and of the ping's room, after the ping.",
            ),
        ),
    }
}

fn count() -> Operation {
    Operation {
        about: "Live counts of a site (and a room)",
        id: "getCount",
        tag: "Presence",
        summary: "Sessions and visitors of a site, and of a room",
        description: "Public (no token, even for sites with private stats). `room` in the \
                      answer only when the query names one."
            .into(),
        security: json!([]),
        parameters: &["site", "room"],
        ok: (200, json_answer::<CountAnswer>("The counts.")),
    }
}

fn rooms() -> Operation {
    Operation {
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
        security: json!([{}, { "statsToken": [] }]),
        parameters: &["site", "limit"],
        ok: (200, json_answer::<RoomsAnswer>("The rooms.")),
    }
}

fn history() -> Operation {
    Operation {
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
        security: json!([{}, { "statsToken": [] }]),
        parameters: &["site", "range"],
        ok: (200, json_answer::<HistoryAnswer>("The history.")),
    }
}

fn status() -> Operation {
    Operation {
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
        security: json!([{ "watchToken": [] }]),
        parameters: &["site", "statusEntities"],
        ok: (200, json_answer::<StatusAnswer>("The statuses.")),
    }
}

fn members() -> Operation {
    Operation {
        about: "Who is in a room, with faces",
        id: "getMembers",
        tag: "Entities",
        summary: "The entities in a room, with their member info",
        description: "Needs a watch token whose `rooms` list allows the room (exact rooms, or \
                      prefixes ending in `*`), else 403 `not_watchable`. A site without \
                      `secret_env` answers 403 `entities_disabled`."
            .into(),
        security: json!([{ "watchToken": [] }]),
        parameters: &["site", "membersRoom"],
        ok: (200, json_answer::<MembersList>("The members.")),
    }
}

fn live() -> Operation {
    Operation {
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
    }
}

fn badge() -> Operation {
    Operation {
        about: "An \"online now | 42\" badge",
        id: "getBadge",
        tag: "Developer",
        summary: "An SVG badge of the live count",
        description: "For pages without JavaScript, READMEs and e-mails: the sessions of the \
                      site (or of `room`), as 999, then 1.2k, 12k, 1.2M; green while someone \
                      is there, grey otherwise. Cached at most 10 s. A refusal of a `GET` (an \
                      unknown site, a refused origin, a bad query, a flood) is a badge image \
                      too, with the refusal's status and code (`Herenow-Error`), so an `<img>` \
                      shows what is wrong rather than a broken picture."
            .into(),
        security: json!([]),
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
    }
}

fn open_api() -> Operation {
    Operation {
        about: "This document",
        id: "getOpenApi",
        tag: "Developer",
        summary: "The OpenAPI 3.1 document of this API",
        description: "Any origin may read it (`Access-Control-Allow-Origin: *`); cached for 5 \
                      minutes."
            .into(),
        security: json!([]),
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

/// `` `1h` 60,000 ms (60 points), ... ``
fn history_steps() -> String {
    let steps: Vec<String> = Range::ALL
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
    let (budget, window) = (MESSAGE_BUDGET, text::duration(BUDGET_WINDOW_MS));
    [
        "A WebSocket. Messages (schemas under `components/schemas`, and in `x-herenow-socket`):"
            .to_owned(),
        String::new(),
        format!(
            "- server -> client: {} at once on open (with `heartbeat_ms` and `ttl_ms`) and \
             whenever the counts change, throttled by `BROADCAST_INTERVAL_MS`; with `watch`, a {} \
             per entity on open and on every change; with `members`, a {} on open and on every \
             change; {} (the text `pong`) for each `ping`; a {} when what the client sent was \
             refused (a token renewal, a signal) and changed nothing.",
            schema(&CountMessage::schema_name()),
            schema(&StatusMessage::schema_name()),
            schema(&MembersMessage::schema_name()),
            schema("PongMessage"),
            schema(&SocketErrorMessage::schema_name()),
        ),
        format!(
            "- client -> server: {} (`{PING}`) every heartbeat; on a socket that carries a \
             session, {} (`{AWAY}`) when the page is hidden and {} (`{BACK}`) when it is shown \
             again; on a socket opened with a token, {} (`{TOKEN_PREFIX}<jwt>`) before that \
             token expires; on a socket that carries an entity, {} (`{SIGNAL} <name>`, \
             `{SIGNAL_END} <name>`).",
            schema("PingText"),
            schema("AwayText"),
            schema("BackText"),
            schema("TokenText"),
            schema("SignalText"),
        ),
        String::new(),
        format!(
            "With `session`, the socket is itself a live session in `room` (no HTTP heartbeats \
             needed), ending when the socket closes cleanly (1000, 1001: at once, even if the \
             session also sent HTTP heartbeats) or when no `ping` has arrived for `ttl` (the \
             server then closes it with 1001); an abnormal close (1006) leaves any HTTP hold to \
             run out. A plain subscriber that never pings is closed after at least {idle}. A \
             message over {max} closes the socket with 1009; more than {budget} messages other \
             than `{PING}` in any {window} close it with {} `{}`. A socket opened with a token \
             lasts as long as the token (`exp` and the leeway) unless a renewal extends it: then \
             the server closes it with {} `{}`.",
            TOO_MANY_MESSAGES.0, TOO_MANY_MESSAGES.1, TOKEN_EXPIRED.0, TOKEN_EXPIRED.1,
        ),
        String::new(),
        "Tokens go in the query (`token`): a track token with `entity`, a watch token with \
         `watch` or `members`. The checks run in order: the upgrade (426), the query (400), the \
         site (403 `unknown_site`, `forbidden_origin`), entities (403 `entities_disabled`), bots \
         when the socket carries a session (403 `bot`), the token (401, 403 `not_watchable`), \
         the rate limit (429 `rate_limited`), the site's ceilings (503 `site_full`, \
         `too_many_sockets`) and the address's (429 `too_many_from_address`). A refused upgrade \
         is an HTTP answer with the usual JSON error."
            .to_owned(),
    ]
    .join("\n")
}

/// `x-herenow-socket`: the messages each side sends, and the close codes.
pub fn socket() -> Value {
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
            TOO_MANY_MESSAGES.0.to_string(): format!(
                "`{}`: more than {MESSAGE_BUDGET} messages other than `{PING}` in any {}",
                TOO_MANY_MESSAGES.1,
                text::duration(BUDGET_WINDOW_MS)
            ),
            "1009": format!("a message over {max}"),
            "1011": "the socket lost its state in a restart",
            TOKEN_EXPIRED.0.to_string(): format!(
                "`{}`: the socket's token expired (`exp` and the leeway) without a renewal",
                TOKEN_EXPIRED.1
            ),
        },
    })
}

/// The body of `POST /v1/ping`: JSON, also as `text/plain` (for `navigator.sendBeacon`).
pub fn ping_body() -> Value {
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
