//! The document is what the code derives, and it holds what the tables hold.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{document, errors, reference, text, FILE};
use crate::api::error::{Allow, ErrorCode};
use crate::api::routes::{other_method_errors, PREFLIGHT_ERRORS, ROUTES, UNKNOWN_PATH_ERRORS};
use crate::api::words::{AsciiWord, ENTITY, ID, ROOM_MAX_CHARS, ROOM_MIN_CHARS, SITE};
use crate::api::{
    parse_entity, parse_history, parse_id, parse_ping, parse_room, parse_rooms, parse_site, Query,
    DEFAULT_HISTORY_RANGE, DEFAULT_ROOM, DEFAULT_ROOMS_LIMIT, MAX_ENTITIES, MAX_ROOMS_LIMIT,
};

fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FILE)
}

/// `public/openapi.json` is exactly the derived document; with `HERENOW_WRITE_OPENAPI=1` (what
/// `npm run openapi` sets) this writes it instead.
#[test]
fn public_openapi_json_is_the_document_the_code_derives() {
    let derived = text();
    if std::env::var_os("HERENOW_WRITE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(file(), &derived).expect("write public/openapi.json");
        eprintln!("wrote {FILE} ({} bytes)", derived.len());
        return;
    }
    let served = std::fs::read_to_string(file()).unwrap_or_default();
    assert!(
        served == derived,
        "{FILE} is not the document the code derives: run `npm run openapi`"
    );
}

/// The value at a local reference (`#/components/...`).
fn at<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("a local reference");
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

/// A response, its reference followed.
fn response<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r.get("$ref").and_then(Value::as_str) {
        Some(reference) => at(doc, reference),
        None => r,
    }
}

/// The (status, code) pairs of a `responses` object (or `x-herenow-other-methods`).
fn error_pairs(doc: &Value, responses: &Value) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for (status, r) in responses.as_object().expect("responses") {
        let r = response(doc, r);
        // a JSON error's code, or a refused badge's (an image, its code in a header)
        let Some(code) = r
            .pointer("/content/application~1json/schema/properties/error/properties/code")
            .or_else(|| r.pointer("/headers/Herenow-Error/schema"))
        else {
            continue;
        };
        let codes = match code.get("enum") {
            Some(list) => list.as_array().expect("an enum").clone(),
            None => vec![code["const"].clone()],
        };
        for c in codes {
            out.push((
                status.parse().expect("a status"),
                c.as_str().expect("a code").to_owned(),
            ));
        }
    }
    out.sort();
    out
}

fn pairs_of(codes: &[ErrorCode]) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = codes
        .iter()
        .map(|c| (c.status(), c.as_str().to_owned()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_route_is_a_path_of_the_document_with_its_method_preflight_head_and_405() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let listed: Vec<&str> = paths
        .keys()
        .map(String::as_str)
        .filter(|p| !p.contains('{'))
        .collect();
    let routes: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(
        listed, routes,
        "the document lists exactly the routes, in their order"
    );
    for route in ROUTES {
        let item = &paths[route.path];
        let method = match route.allow {
            Allow::Post => "post",
            Allow::Get | Allow::Upgrade => "get",
        };
        let op = &item[method];
        assert!(op.is_object(), "{method} {}", route.path);
        assert!(item["options"].is_object(), "OPTIONS {}", route.path);
        for other in ["get", "post", "put", "delete", "patch", "head"] {
            assert!(
                other == method || item.get(other).is_none(),
                "{other} {}",
                route.path
            );
        }
        let head = op.get("x-herenow-head") == Some(&Value::Bool(true));
        assert_eq!(
            head,
            route.allow == Allow::Get,
            "{}: HEAD answers as GET",
            route.path
        );
        let other = &item["x-herenow-other-methods"];
        let allow = response(&doc, &other["405"])["headers"]["Allow"]["schema"]["const"].clone();
        assert_eq!(allow, route.allow.header(), "{}: Allow", route.path);
    }
    let unknown = doc["x-herenow-unknown-paths"]
        .as_str()
        .expect("x-herenow-unknown-paths");
    assert!(paths[unknown].is_object());
    assert!(unknown.starts_with("/v1/{"));
}

#[test]
fn every_error_code_is_answered_with_its_status_where_the_tables_say_and_nowhere_else() {
    let doc = document();
    let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        doc["components"]["schemas"]["ErrorCode"]["enum"],
        json!(names)
    );
    let mut all = Vec::new();
    for route in ROUTES {
        let item = &doc["paths"][route.path];
        let method = if route.allow == Allow::Post {
            "post"
        } else {
            "get"
        };
        let answered = error_pairs(&doc, &item[method]["responses"]);
        assert_eq!(answered, pairs_of(route.errors), "{}", route.path);
        let preflight = error_pairs(&doc, &item["options"]["responses"]);
        assert_eq!(
            preflight,
            pairs_of(PREFLIGHT_ERRORS),
            "OPTIONS {}",
            route.path
        );
        let other = error_pairs(&doc, &item["x-herenow-other-methods"]);
        assert_eq!(
            other,
            pairs_of(&other_method_errors(route.allow)),
            "other methods of {}",
            route.path
        );
        all.extend(answered.into_iter().chain(preflight).chain(other));
    }
    let unknown = &doc["paths"][doc["x-herenow-unknown-paths"]
        .as_str()
        .expect("unknown paths")];
    for responses in [
        &unknown["get"]["responses"],
        &unknown["x-herenow-other-methods"],
    ] {
        let answered = error_pairs(&doc, responses);
        assert_eq!(answered, pairs_of(UNKNOWN_PATH_ERRORS), "unknown paths");
        all.extend(answered);
    }
    all.sort();
    all.dedup();
    assert_eq!(
        all,
        pairs_of(&ErrorCode::ALL),
        "every code, with its status, and no other"
    );
    // each example is the message the API answers
    for code in ErrorCode::ALL {
        assert_eq!(errors::example(code).code, code);
    }
}

#[test]
fn the_limits_of_the_document_are_the_validators() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (name, word) in [
        ("SiteKey", SITE),
        ("SessionId", ID),
        ("VisitorId", ID),
        ("EntityId", ENTITY),
    ] {
        let s = &schemas[name];
        assert_eq!(s["minLength"], json!(word.min), "{name}");
        assert_eq!(s["maxLength"], json!(word.max), "{name}");
        assert_eq!(s["pattern"], json!(word.pattern()), "{name}");
    }
    assert_eq!(schemas["Room"]["minLength"], json!(ROOM_MIN_CHARS));
    assert_eq!(schemas["Room"]["maxLength"], json!(ROOM_MAX_CHARS));
    assert_eq!(
        schemas["Jwt"]["maxLength"],
        json!(crate::token::MAX_TOKEN_BYTES)
    );

    // the validators refuse with a sentence that states the same rule
    let rule = |w: AsciiWord| format!("{}-{} characters of {}", w.min, w.max, w.charset_text());
    let too_long = |w: AsciiWord| "a".repeat(w.max + 1);
    assert!(parse_site(Some(&"a".repeat(SITE.max))).is_ok());
    assert!(parse_site(Some(&too_long(SITE)))
        .unwrap_err()
        .message
        .contains(&rule(SITE)));
    assert!(parse_id("session", Some(&"a".repeat(ID.min))).is_ok());
    assert!(parse_id("session", Some(&too_long(ID)))
        .unwrap_err()
        .message
        .contains(&rule(ID)));
    assert!(parse_entity(Some(&"a".repeat(ENTITY.max))).is_ok());
    assert!(parse_entity(Some(&too_long(ENTITY)))
        .unwrap_err()
        .message
        .contains(&rule(ENTITY)));
    let room_rule = format!("{ROOM_MIN_CHARS}-{ROOM_MAX_CHARS} characters");
    assert!(parse_room(Some(&"é".repeat(ROOM_MAX_CHARS))).is_ok());
    let long_room = "é".repeat(ROOM_MAX_CHARS + 1);
    assert!(parse_room(Some(&long_room))
        .unwrap_err()
        .message
        .contains(&room_rule));

    // the ping: its events, its required fields, its default room
    let ping = &schemas["PingRequest"];
    assert_eq!(ping["required"], json!(["site", "session", "event"]));
    assert_eq!(ping["properties"]["room"]["default"], json!(DEFAULT_ROOM));
    for event in schemas["PingEvent"]["enum"].as_array().expect("events") {
        let mut body = json!({ "site": "s", "session": "abcdefgh", "event": event });
        if event.as_str().is_some_and(|e| e.starts_with("signal")) {
            // a signal names itself and comes from a tracked entity session
            for (k, v) in [
                ("signal", "typing"),
                ("entity", "user:1"),
                ("token", "a.b.c"),
            ] {
                body[k] = v.into();
            }
        }
        assert!(parse_ping(body.to_string().as_bytes()).is_ok(), "{event}");
    }
    let pinged = parse_ping(br#"{"site":"s","session":"abcdefgh","event":"join"}"#);
    assert_eq!(pinged.map(|p| p.room), Ok(DEFAULT_ROOM.to_owned()));

    // queries: limits and defaults
    let params = &doc["components"]["parameters"];
    let q = |s: &str| Query::parse(s).expect("a query");
    assert_eq!(
        params["limit"]["schema"]["default"],
        json!(DEFAULT_ROOMS_LIMIT)
    );
    assert_eq!(
        parse_rooms(&q("site=s")).map(|r| r.limit),
        Ok(DEFAULT_ROOMS_LIMIT)
    );
    let huge = format!("site=s&limit={}", MAX_ROOMS_LIMIT + 1);
    assert_eq!(parse_rooms(&q(&huge)).map(|r| r.limit), Ok(MAX_ROOMS_LIMIT));
    let clamp = format!("clamped to {MAX_ROOMS_LIMIT}.");
    assert!(params["limit"]["description"]
        .as_str()
        .is_some_and(|d| d.ends_with(&clamp)));
    assert_eq!(
        schemas["RoomsAnswer"]["properties"]["rooms"]["maxItems"],
        json!(MAX_ROOMS_LIMIT)
    );
    assert_eq!(
        params["range"]["schema"]["default"],
        json!(DEFAULT_HISTORY_RANGE.name())
    );
    assert_eq!(
        parse_history(&q("site=s")).map(|h| h.range),
        Ok(DEFAULT_HISTORY_RANGE.name().to_owned())
    );
    for range in schemas["HistoryRange"]["enum"].as_array().expect("ranges") {
        let query = format!("site=s&range={}", range.as_str().expect("a range"));
        assert!(parse_history(&q(&query)).is_ok(), "{range}");
    }
    for p in ["statusEntities", "watch"] {
        assert_eq!(params[p]["schema"]["maxItems"], json!(MAX_ENTITIES), "{p}");
    }
    let members = &schemas["MembersAnswer"]["properties"]["members"]["maxItems"];
    assert_eq!(members, &json!(crate::presence::types::MAX_MEMBERS));
}

#[test]
fn every_reference_resolves_and_every_schema_is_used_or_a_word() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        at(&doc, r);
    }
    for name in doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
    {
        let r = reference(name);
        let used = all.contains(&r.as_str());
        assert!(
            used || ["Error", "ErrorCode"].contains(&name.as_str()),
            "{name} is not used"
        );
    }
}
