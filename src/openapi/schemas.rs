//! `components/schemas`: derived from the answer, message and request types (schemars), the
//! words' rules, the error codes, and the socket's texts.

use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::{transform_subschemas, Transform};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::api::answers::{CountAnswer, PingAnswer, RoomsAnswer, StatusAnswer};
use crate::api::error::ErrorAnswer;
use crate::api::words::schema as words;
use crate::api::words::SIGNAL as SIGNAL_NAME;
use crate::api::{Ping, PingEvent};
use crate::presence::entities::EntityStatusRules;
use crate::presence::history::HistoryAnswer;
use crate::presence::messages::{
    CountMessage, ErrorMessage as SocketErrorMessage, MembersList, MembersMessage, StatusMessage,
    AWAY, BACK, PING, PONG, SIGNAL, SIGNAL_END, TOKEN_PREFIX,
};
use crate::presence::types::MAX_SOCKET_MESSAGE_BYTES;
use crate::presence::webhooks::WebhookEvent;
use crate::presence::{BUDGET_WINDOW_MS, MESSAGE_BUDGET, TOKEN_EXPIRED, TOO_MANY_MESSAGES};

use super::errors::Kind;
use super::{reference, text};

/// The prefix of a reference to a schema of the document.
pub const SCHEMAS: &str = "/components/schemas";

/// Every schema of the document, by name, in the order it lists them.
pub fn schemas() -> Map<String, Value> {
    // Answers and messages are what the API writes (optional fields are those it may leave
    // out); the ping is what it reads.
    let mut answers = generator(Contract::Serialize);
    let mut requests = generator(Contract::Deserialize);
    // the words first, as the document introduces them, then the answers in the order of the
    // routes, the socket's messages, the webhooks' and the errors'
    answers.subschema_for::<words::SiteKey>();
    answers.subschema_for::<words::Room>();
    answers.subschema_for::<words::SessionId>();
    answers.subschema_for::<words::VisitorId>();
    answers.subschema_for::<words::EntityId>();
    answers.subschema_for::<words::EpochMillis>();
    answers.subschema_for::<words::Jwt>();
    answers.subschema_for::<crate::presence::Counts>();
    answers.subschema_for::<crate::presence::RoomCounts>();
    answers.subschema_for::<crate::presence::types::PingRoomCounts>();
    requests.subschema_for::<PingEvent>();
    requests.subschema_for::<Ping>();
    answers.subschema_for::<PingAnswer>();
    answers.subschema_for::<CountAnswer>();
    answers.subschema_for::<RoomsAnswer>();
    answers.subschema_for::<words::HistoryRange>();
    answers.subschema_for::<HistoryAnswer>();
    answers.subschema_for::<crate::presence::entities::State>();
    answers.subschema_for::<words::MemberInfo>();
    answers.subschema_for::<EntityStatusRules>();
    answers.subschema_for::<crate::presence::EntityStatus>();
    answers.subschema_for::<StatusAnswer>();
    answers.subschema_for::<crate::presence::entities::Member>();
    answers.subschema_for::<MembersList>();
    answers.subschema_for::<CountMessage>();
    answers.subschema_for::<StatusMessage>();
    answers.subschema_for::<MembersMessage>();
    answers.subschema_for::<SocketErrorMessage>();
    answers.subschema_for::<WebhookEvent>();
    answers.subschema_for::<ErrorAnswer>();

    // the ping's schemas (what the API reads) go just before its answer's; a schema both use
    // (the words) is one schema
    let requests = requests.take_definitions(true);
    let mut out = Map::new();
    let mut add = |name: String, schema: Value| match out.get(&name) {
        Some(same) => assert_eq!(same, &schema, "{name}: one schema for reading and writing"),
        None => {
            out.insert(name, schema);
        }
    };
    for (name, schema) in answers.take_definitions(true) {
        if name == PingAnswer::schema_name() {
            for (name, schema) in requests.clone() {
                add(name, schema);
            }
        }
        add(name, schema);
    }

    // what ties a status's fields together, for statuses and `status` messages alike
    for name in [
        crate::presence::EntityStatus::schema_name(),
        StatusMessage::schema_name(),
    ] {
        let schema = out.get_mut(name.as_ref()).expect("a status schema");
        schema["allOf"] = json!([reference_to::<EntityStatusRules>()]);
    }
    for (name, schema) in socket_texts() {
        out.insert(name, schema);
    }
    let error = out.get("Error").cloned().expect("the Error schema");
    // (a refused badge is an image: its codes are in its responses' Herenow-Error header)
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Badge) {
        out.insert(format!("{kind:?}Error"), kind.schema(&error));
    }
    out.insert(
        "OpenApiDocument".into(),
        json!({
            "description": "This document: OpenAPI 3.1.",
            "type": "object",
            "required": ["openapi", "info", "paths"],
            "properties": {
                "openapi": { "type": "string", "pattern": "^3\\.1\\.\\d+$" },
                "info": { "type": "object" },
                "paths": { "type": "object" },
            },
        }),
    );
    out
}

/// A reference to `T`'s schema.
pub fn reference_to<T: JsonSchema>() -> Value {
    json!({ "$ref": reference(&T::schema_name()) })
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = SCHEMAS.into();
            s.meta_schema = None;
            s.contract = contract;
            s.transforms = vec![Box::new(Tidy)];
        })
        .into_generator()
}

/// What the derived schemas need to read as the document's: integer formats that JSON Schema
/// does not define go (`uint32` becomes its bounds), doc comments wrapped at 100 columns become
/// paragraphs, and a schema's description comes first.
#[derive(Clone)]
struct Tidy;

impl Transform for Tidy {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        match obj.get("format").and_then(Value::as_str) {
            Some("uint32") => {
                obj.remove("format");
                obj.insert("maximum".into(), u32::MAX.into());
            }
            Some("uint64" | "uint" | "uint8" | "uint16") => {
                obj.remove("format");
            }
            _ => {}
        }
        if let Some(Value::String(d)) = obj.get_mut("description") {
            *d = unwrap_lines(d);
        }
        let mut tidy = Map::new();
        for key in ["title", "description"] {
            if let Some(v) = obj.remove(key) {
                tidy.insert(key.into(), v);
            }
        }
        tidy.append(obj);
        *obj = tidy;
    }
}

/// A pattern that matches `word` in any case: `[Ss][Ii]...`.
fn case_insensitive(word: &str) -> String {
    word.chars()
        .map(|c| match c.is_ascii_alphabetic() {
            true => format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()),
            false => c.to_string(),
        })
        .collect()
}

/// Joins the lines of a paragraph (a doc comment's), keeping blank lines and list items.
fn unwrap_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        let starts_block = line.is_empty() || line.starts_with("- ");
        if !out.is_empty() {
            if starts_block || out.ends_with('\n') {
                out.push('\n');
            } else {
                out.push(' ');
            }
        }
        out.push_str(line);
    }
    out
}

/// The socket's messages that are plain text, and the unions of each side's messages.
fn socket_texts() -> Vec<(String, Value)> {
    let text = |word: &str, description: &str| json_schema!({ "description": description, "type": "string", "const": word });
    let max = text::size(MAX_SOCKET_MESSAGE_BYTES);
    vec![
        (
            "PongMessage".into(),
            text(
                PONG,
                &format!(
                    "Server -> client (plain text frame, not JSON): `{PONG}`, the answer to a \
                     `{PING}` (answered by the runtime without waking the Durable Object)."
                ),
            )
            .into(),
        ),
        (
            "LiveServerMessage".into(),
            json!({
                "description": format!(
                    "Any message the server sends on a `/v1/live` socket: a JSON text frame \
                     (parsed: `count`, `status`, `members` or `error`, told apart by `type`) or \
                     the plain text `{PONG}`."
                ),
                "oneOf": [
                    reference_to::<CountMessage>(),
                    reference_to::<StatusMessage>(),
                    reference_to::<MembersMessage>(),
                    reference_to::<SocketErrorMessage>(),
                    { "$ref": reference("PongMessage") },
                ],
            }),
        ),
        (
            "PingText".into(),
            text(
                PING,
                &format!(
                    "Client -> server (text frame): `{PING}`, every `heartbeat_ms`; a sign of \
                     life that keeps the socket's session live. Answered with `{PONG}`."
                ),
            )
            .into(),
        ),
        (
            "AwayText".into(),
            text(
                AWAY,
                &format!(
                    "Client -> server (text frame), on a socket that carries a session: \
                     `{AWAY}`, the page was hidden. The session stops counting at once; with an \
                     entity it stays that entity's session, as away, until `{BACK}`; without \
                     one it ends."
                ),
            )
            .into(),
        ),
        (
            "BackText".into(),
            text(
                BACK,
                &format!(
                    "Client -> server (text frame): `{BACK}`, the page is visible again (the \
                     session counts again)."
                ),
            )
            .into(),
        ),
        (
            "TokenText".into(),
            json!({
                "description": format!(
                    "Client -> server (text frame), on a socket opened with a token: \
                     `{TOKEN_PREFIX}<jwt>`, a renewed token of the same site, scope and `sub` \
                     (its `watch` and `rooms` replace the old ones and must still allow what the \
                     socket reads). A later `exp` extends the socket, which is otherwise closed \
                     with {} `{}` when its token expires; a refused renewal is answered with an \
                     `error` message and changes nothing.",
                    TOKEN_EXPIRED.0,
                    TOKEN_EXPIRED.1
                ),
                "type": "string",
                "pattern": format!("^\\s*{TOKEN_PREFIX}"),
            }),
        ),
        (
            "SignalText".into(),
            json!({
                "description": format!(
                    "Client -> server (text frame), on a socket that carries an entity's \
                     session: `{SIGNAL} <name>` begins (or renews) and `{SIGNAL_END} <name>` \
                     ends the signal `name` ({}), e.g. `{SIGNAL} typing`; it lasts \
                     `SIGNAL_TTL_MS` (the first `count` message's `signal_ttl_ms`) unless sent \
                     again. A refused one (no entity, a bad name, past the limits) is answered \
                     with an `error` message and changes nothing.",
                    SIGNAL_NAME.rule_text()
                ),
                "type": "string",
                "pattern": format!(
                    "^\\s*{}(-{})? +{}\\s*$",
                    case_insensitive(SIGNAL),
                    case_insensitive(SIGNAL_END.trim_start_matches(SIGNAL).trim_start_matches('-')),
                    SIGNAL_NAME.pattern().trim_start_matches('^').trim_end_matches('$'),
                ),
            }),
        ),
        (
            "LiveClientMessage".into(),
            json!({
                "description": format!(
                    "What a client sends on a `/v1/live` socket: text frames `{PING}`, `{AWAY}`, \
                     `{BACK}` (read case-insensitively, surrounding spaces ignored; any other \
                     message is only a sign of life), `{TOKEN_PREFIX}<jwt>`, `{SIGNAL} <name>` or \
                     `{SIGNAL_END} <name>`. A message over \
                     {max} closes the socket with 1009; more than {MESSAGE_BUDGET} messages \
                     other than `{PING}` in any {} close it with {} `{}`.",
                    text::duration(BUDGET_WINDOW_MS),
                    TOO_MANY_MESSAGES.0,
                    TOO_MANY_MESSAGES.1
                ),
                "oneOf": [
                    { "$ref": reference("PingText") },
                    { "$ref": reference("AwayText") },
                    { "$ref": reference("BackText") },
                    { "$ref": reference("TokenText") },
                    { "$ref": reference("SignalText") },
                ],
            }),
        ),
    ]
}
