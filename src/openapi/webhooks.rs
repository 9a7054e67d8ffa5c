//! `webhooks`: the POST of each event a site's back end may subscribe to.

use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::presence::entities::State;
use crate::presence::webhooks::schema::EVENTS;
use crate::presence::webhooks::{WebhookEvent, GIVE_UP_AFTER_MS};
use crate::presence::WebhookEvents;

use super::{reference, text};

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
                            text::duration(GIVE_UP_AFTER_MS)
                        ),
                    },
                },
            });
            (name.to_owned(), json!({ "post": post }))
        })
        .collect()
}
