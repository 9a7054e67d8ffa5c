//! `paths`: one path item per route of the routes table, with the operation of its method, its
//! preflight and its answers to other methods, and the item of every other `/v1` path.

use serde_json::{json, Map, Value};

use crate::api::error::Allow;
use crate::api::routes::{Op, Route, ROUTES};

use super::errors::{method, other_methods, Kind};
use super::operations;
use super::response_ref;

/// The path item of every `/v1` path the routes table does not have.
pub const UNKNOWN_PATH: &str = "/v1/{unknown}";

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
    let op = operations::of(route.op);
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
        operation["requestBody"] = operations::ping_body();
    }
    if route.op == Op::Live {
        operation["x-herenow-socket"] = operations::socket();
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
