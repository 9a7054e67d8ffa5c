//! The error answers of the document, from the routes table: each route's `errors` (and those of
//! preflights, unknown paths and other methods), grouped into kinds of operation, each with its
//! `<Kind>Error` schema (the `Error` schema with only its codes) and one response per status.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::api::error::{Allow, ApiError, ErrorCode};
use crate::api::parse_site;
use crate::api::routes::{
    other_method_errors, Op, Route, PREFLIGHT_ERRORS, ROUTES, UNKNOWN_PATH_ERRORS,
};
use crate::token::TokenError;

use super::{reference, response_ref};

/// The kinds of operation by their errors: routes of one kind answer the same codes and share
/// their error schema and responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ping,
    Count,
    Stats,
    Watch,
    Live,
    Badge,
    OpenApi,
    Preflight,
    UnknownPath,
    OtherMethod,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Ping,
        Kind::Count,
        Kind::Stats,
        Kind::Watch,
        Kind::Live,
        Kind::Badge,
        Kind::OpenApi,
        Kind::Preflight,
        Kind::UnknownPath,
        Kind::OtherMethod,
    ];

    /// The kind of a route's operation.
    pub fn of(op: Op) -> Kind {
        match op {
            Op::Ping => Kind::Ping,
            Op::Count => Kind::Count,
            Op::Rooms | Op::History => Kind::Stats,
            Op::Status | Op::Members => Kind::Watch,
            Op::Live => Kind::Live,
            Op::Badge => Kind::Badge,
            Op::OpenApi => Kind::OpenApi,
        }
    }

    fn name(self) -> String {
        format!("{self:?}")
    }

    /// Its routes (none for preflights, unknown paths and other methods).
    fn routes(self) -> Vec<&'static Route> {
        ROUTES.iter().filter(|r| Kind::of(r.op) == self).collect()
    }

    /// Every code it answers, in the order the routes table lists them.
    pub fn codes(self) -> Vec<ErrorCode> {
        match self {
            Kind::Preflight => PREFLIGHT_ERRORS.to_vec(),
            Kind::UnknownPath => UNKNOWN_PATH_ERRORS.to_vec(),
            // the 405's `Allow` is the path's; its code and status are the same for all
            Kind::OtherMethod => other_method_errors(Allow::Get).to_vec(),
            _ => {
                let routes = self.routes();
                for r in &routes {
                    assert_eq!(
                        r.errors, routes[0].errors,
                        "{}: the errors of {self:?}",
                        r.path
                    );
                }
                routes[0].errors.to_vec()
            }
        }
    }

    /// Its codes by status.
    pub fn by_status(self) -> BTreeMap<u16, Vec<ErrorCode>> {
        let mut out: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
        for code in self.codes() {
            out.entry(code.status()).or_default().push(code);
        }
        out
    }

    /// What the kind's error schema describes.
    fn what(self) -> String {
        let of_routes = |suffix: &str| {
            let ops: Vec<String> = self
                .routes()
                .iter()
                .map(|r| format!("`{} {}`", method(r.allow), r.path))
                .collect();
            format!("An error of {}{suffix}.", ops.join(" and "))
        };
        match self {
            Kind::Live => of_routes(" (a refused upgrade)"),
            Kind::Badge => {
                of_routes(" (answered as a badge image; this is its code, in `Herenow-Error`)")
            }
            Kind::Preflight => "An error of an `OPTIONS` preflight.".into(),
            Kind::UnknownPath => {
                "The answer of a path under `/v1` that the API does not have.".into()
            }
            Kind::OtherMethod => "The answer of a method a path does not answer.".into(),
            _ => of_routes(""),
        }
    }

    /// `<Kind>Error`: the `Error` schema, with only the kind's codes.
    pub fn schema(self, error: &Value) -> Value {
        let codes: Vec<&str> = self.codes().iter().map(|c| c.as_str()).collect();
        let listed: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        let mut schema = error.clone();
        schema["properties"]["error"]["properties"]["code"] =
            json!({ "type": "string", "enum": codes });
        let mut out = Map::new();
        out.insert("title".into(), format!("{}Error", self.name()).into());
        out.insert(
            "description".into(),
            format!("{} Codes: {}.", self.what(), listed.join(", ")).into(),
        );
        if let Value::Object(rest) = schema {
            out.extend(rest.into_iter().filter(|(k, _)| k != "description"));
        }
        Value::Object(out)
    }

    /// The name of its error response of `status`.
    fn response_name(self, status: u16) -> String {
        format!("{}Error{status}", self.name())
    }

    /// Its error responses, by status, as references (for an operation's `responses`; other
    /// methods have [`other_methods`], whose 405 is the path's own).
    pub fn responses(self) -> Map<String, Value> {
        self.by_status()
            .into_keys()
            .map(|status| {
                (
                    status.to_string(),
                    response_ref(&self.response_name(status)),
                )
            })
            .collect()
    }

    /// Its error responses, by name (for `components/responses`).
    pub fn response_components(self) -> Vec<(String, Value)> {
        self.by_status()
            .into_iter()
            .filter(|&(status, _)| !(self == Kind::OtherMethod && status == 405))
            .map(|(status, codes)| {
                let lines: Vec<String> = codes
                    .iter()
                    .map(|c| format!("- `{}`: {}.", c.as_str(), c.description()))
                    .collect();
                if self == Kind::Badge {
                    let about = format!("{}:\n{}", status_text(status), lines.join("\n"));
                    return (self.response_name(status), badge_refusal(about, &codes));
                }
                let response = error_response(
                    format!("{}:\n{}", status_text(status), lines.join("\n")),
                    None,
                    &format!("{}Error", self.name()),
                    json!({ "type": "string", "enum": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>() }),
                    &codes,
                );
                (self.response_name(status), response)
            })
            .collect()
    }
}

/// The answers of a method a path does not answer: its 405 (with the path's `Allow`) and the
/// other errors of any request.
pub fn other_methods(allow: Allow) -> Value {
    let mut out = Kind::OtherMethod
        .by_status()
        .into_keys()
        .map(|status| {
            let name = if status == 405 {
                method_not_allowed_name(allow)
            } else {
                Kind::OtherMethod.response_name(status)
            };
            (status.to_string(), response_ref(&name))
        })
        .collect::<Map<String, Value>>();
    out.sort_keys();
    Value::Object(out)
}

fn method_not_allowed_name(allow: Allow) -> String {
    format!("MethodNotAllowed{allow:?}")
}

/// `MethodNotAllowedGet`, `...Post`, `...Upgrade`: the 405 of each kind of path.
pub fn method_not_allowed_components() -> Vec<(String, Value)> {
    [Allow::Get, Allow::Post, Allow::Upgrade]
        .into_iter()
        .map(|allow| {
            let code = ErrorCode::MethodNotAllowed(allow);
            let response = error_response(
                format!(
                    "The path only answers {}: `{}`, with `Allow: {}`.",
                    method(allow),
                    code.as_str(),
                    allow.header()
                ),
                Some(allow),
                "OtherMethodError",
                json!({ "const": code.as_str() }),
                &[code],
            );
            (method_not_allowed_name(allow), response)
        })
        .collect()
}

/// The method a route answers (besides `HEAD` and `OPTIONS`).
pub fn method(allow: Allow) -> &'static str {
    match allow {
        Allow::Get | Allow::Upgrade => "GET",
        Allow::Post => "POST",
    }
}

/// A refused badge: an image too (an `<img>` cannot show JSON), with the refusal's status, the
/// code in `Herenow-Error` and a few words in its value box (`api::badge::refusal_words`).
fn badge_refusal(description: String, codes: &[ErrorCode]) -> Value {
    let words: Vec<String> = codes
        .iter()
        .map(|&c| {
            format!(
                "`{}`: \"{}\"",
                c.as_str(),
                crate::api::badge::refusal_words(c)
            )
        })
        .collect();
    json!({
        "description": format!(
            "{description}\n\nThe answer is a badge image whose value box says what is wrong ({}), \
             never cached.",
            words.join(", ")
        ),
        "headers": {
            "Herenow-Error": {
                "required": true,
                "description": "The error's code.",
                "schema": { "type": "string", "enum": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>() },
            },
            "Cache-Control": { "required": true, "schema": { "const": "no-store" } },
            "Access-Control-Allow-Origin": { "required": true, "schema": { "const": "*" } },
            "X-Content-Type-Options": { "schema": { "const": "nosniff" } },
            "Content-Security-Policy": { "schema": { "type": "string" } },
        },
        "content": {
            "image/svg+xml": { "schema": { "type": "string", "pattern": "^<svg [\\s\\S]*</svg>$" } },
        },
    })
}

/// An error response: its description, headers (with `Allow` for a 405), and its schema (the
/// kind's, narrowed to `code`), with an example of each code.
fn error_response(
    description: String,
    allow: Option<Allow>,
    schema: &str,
    code: Value,
    codes: &[ErrorCode],
) -> Value {
    let mut headers = Map::new();
    if let Some(allow) = allow {
        headers.insert(
            "Allow".into(),
            json!({
                "required": true,
                "description": "The methods the path answers.",
                "schema": { "const": allow.header() },
            }),
        );
    }
    headers.extend(super::paths::json_headers());
    let examples: Map<String, Value> = codes
        .iter()
        .map(|&c| {
            let e = example(c);
            let value = json!({ "error": { "code": c.as_str(), "message": e.message } });
            (c.as_str().to_owned(), json!({ "value": value }))
        })
        .collect();
    json!({
        "description": description,
        "headers": headers,
        "content": {
            "application/json": {
                "schema": {
                    "$ref": reference(schema),
                    "type": "object",
                    "properties": { "error": { "type": "object", "properties": { "code": code } } },
                },
                "examples": examples,
            },
        },
    })
}

/// A real error of each code, as the API answers it (its message is the example's).
pub fn example(code: ErrorCode) -> ApiError {
    match code {
        ErrorCode::BadRequest => match parse_site(Some("a/b")) {
            Err(e) => e,
            Ok(_) => unreachable!("a/b is not a site"),
        },
        ErrorCode::BadToken => TokenError::Expired.into(),
        ErrorCode::UnknownSite => ApiError::unknown_site("example.org"),
        ErrorCode::ForbiddenOrigin => ApiError::forbidden_origin(),
        ErrorCode::Bot => ApiError::bot(),
        ErrorCode::EntitiesDisabled => ApiError::entities_disabled(),
        ErrorCode::NotWatchable => ApiError::not_watchable("user:7"),
        ErrorCode::NotFound => ApiError::not_found(),
        ErrorCode::MethodNotAllowed(allow) => ApiError::method_not_allowed(allow),
        ErrorCode::TooLarge => ApiError::too_large(),
        ErrorCode::UpgradeRequired => ApiError::upgrade_required(),
        ErrorCode::RateLimited => ApiError::rate_limited(),
        ErrorCode::TooManyFromAddress => ApiError::too_many_from_address(),
        ErrorCode::Internal => ApiError::internal(),
        ErrorCode::SiteFull => ApiError::site_full(),
        ErrorCode::TooManySockets => ApiError::too_many_sockets(),
    }
}

/// The title of a status, as error responses start.
fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Bad token",
        403 => "Refused",
        404 => "Not found",
        405 => "Method not allowed",
        413 => "Body too large",
        426 => "Upgrade required",
        429 => "Rate limited",
        500 => "Server error",
        503 => "At capacity",
        _ => panic!("no title for the status {status}: add one"),
    }
}

/// The error codes of the API by status, as the document's introduction lists them.
pub fn codes_by_status() -> String {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in ErrorCode::ALL {
        by_status.entry(code.status()).or_default().push(code);
    }
    let parts: Vec<String> = by_status
        .into_iter()
        .map(|(status, codes)| {
            let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
            let note = match codes[0] {
                ErrorCode::NotFound => " (an unknown `/v1/...` path)",
                ErrorCode::MethodNotAllowed(_) => " (with `Allow`)",
                _ => "",
            };
            format!("{status} {}{note}", names.join(" / "))
        })
        .collect();
    parts.join(", ")
}
