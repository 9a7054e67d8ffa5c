//! Errors are values with codes: one [`ErrorCode`] per contract code, carrying its HTTP status
//! and (for 405) its `Allow` header, and one JSON shape for all of them:
//! `{"error":{"code":"<snake_case>","message":"<one sentence for a person>"}}`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{MAX_PING_BYTES, MAX_PING_WITH_TOKEN_BYTES};

/// Every error answer: `{"error":{"code":"<snake_case>","message":"<one sentence for a person>"}}`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(rename = "Error", deny_unknown_fields)
)]
pub struct ErrorAnswer<'a> {
    #[serde(borrow)]
    pub error: ErrorDetail<'a>,
}

/// The code and the sentence of an error answer.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(inline, deny_unknown_fields)
)]
pub struct ErrorDetail<'a> {
    #[serde(borrow)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "ErrorCode"))]
    pub code: Cow<'a, str>,
    #[serde(borrow)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "ErrorMessage"))]
    pub message: Cow<'a, str>,
}

/// The methods a path answers, for `405 method_not_allowed` and its `Allow` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    /// `GET` (and `HEAD`), plus the CORS preflight.
    Get,
    /// `POST`, plus the CORS preflight.
    Post,
    /// `GET` only (a WebSocket upgrade has no `HEAD`), plus the CORS preflight.
    Upgrade,
}

impl Allow {
    pub fn header(self) -> &'static str {
        match self {
            Allow::Get => "GET, HEAD, OPTIONS",
            Allow::Post => "POST, OPTIONS",
            Allow::Upgrade => "GET, OPTIONS",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Allow::Get | Allow::Upgrade => "GET",
            Allow::Post => "POST",
        }
    }
}

/// Every error code of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    BadToken,
    UnknownSite,
    ForbiddenOrigin,
    Bot,
    EntitiesDisabled,
    NotWatchable,
    NotFound,
    MethodNotAllowed(Allow),
    TooLarge,
    UpgradeRequired,
    RateLimited,
    TooManyFromAddress,
    SiteFull,
    TooManySockets,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::BadToken => 401,
            ErrorCode::UnknownSite
            | ErrorCode::ForbiddenOrigin
            | ErrorCode::Bot
            | ErrorCode::EntitiesDisabled
            | ErrorCode::NotWatchable => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed(_) => 405,
            ErrorCode::TooLarge => 413,
            ErrorCode::UpgradeRequired => 426,
            ErrorCode::RateLimited | ErrorCode::TooManyFromAddress => 429,
            ErrorCode::Internal => 500,
            ErrorCode::SiteFull | ErrorCode::TooManySockets => 503,
        }
    }

    /// The contract's snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::UnknownSite => "unknown_site",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::Bot => "bot",
            ErrorCode::EntitiesDisabled => "entities_disabled",
            ErrorCode::NotWatchable => "not_watchable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed(_) => "method_not_allowed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UpgradeRequired => "upgrade_required",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyFromAddress => "too_many_from_address",
            ErrorCode::SiteFull => "site_full",
            ErrorCode::TooManySockets => "too_many_sockets",
            ErrorCode::Internal => "internal_error",
        }
    }

    /// Every code, in the order the OpenAPI document lists them.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::BadRequest,
        ErrorCode::BadToken,
        ErrorCode::UnknownSite,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::Bot,
        ErrorCode::EntitiesDisabled,
        ErrorCode::NotWatchable,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed(Allow::Get),
        ErrorCode::TooLarge,
        ErrorCode::UpgradeRequired,
        ErrorCode::RateLimited,
        ErrorCode::TooManyFromAddress,
        ErrorCode::Internal,
        ErrorCode::SiteFull,
        ErrorCode::TooManySockets,
    ];

    /// The code named `code` (every code but `method_not_allowed`, whose `Allow` is not in
    /// the name).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        Self::ALL
            .into_iter()
            .filter(|c| c.allow().is_none())
            .find(|c| c.as_str() == code)
    }

    /// The `Allow` header a 405 carries.
    pub fn allow(self) -> Option<&'static str> {
        match self {
            ErrorCode::MethodNotAllowed(a) => Some(a.header()),
            _ => None,
        }
    }
}

/// The schemas of the codes and their sentences, and what each code means, for the OpenAPI
/// document (native builds only).
#[cfg(not(target_arch = "wasm32"))]
mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::{Allow, ErrorCode};
    use crate::api::{MAX_PING_BYTES, MAX_PING_WITH_TOKEN_BYTES};
    use crate::openapi::text;
    use crate::presence::{MAX_NEW_SIGNALS_PER_SECOND, MAX_SIGNALS};

    impl ErrorCode {
        /// When the API answers the code (a phrase of the document).
        pub fn description(self) -> String {
            match self {
                ErrorCode::BadRequest => "a malformed request: a missing or invalid parameter or \
                    field, a repeated query parameter, a query that is not percent-encoded UTF-8"
                    .into(),
                ErrorCode::BadToken => "the token is missing, malformed, badly signed, expired, \
                    not yet valid, for another site, entity, scope or audience"
                    .into(),
                ErrorCode::UnknownSite => "the site is not configured".into(),
                ErrorCode::ForbiddenOrigin => {
                    "the request's `Origin` is not one of the site's origins".into()
                }
                ErrorCode::Bot => "the `User-Agent` is an obvious bot's (crawlers, monitors, \
                    automation tools, headless browsers that say so): nothing is counted"
                    .into(),
                ErrorCode::EntitiesDisabled => {
                    "the site has no `secret_env`, so it has no entities".into()
                }
                ErrorCode::NotWatchable => "an entity (or a room) outside the watch token's \
                    `watch` (or `rooms`) list"
                    .into(),
                ErrorCode::NotFound => "there is nothing at this path".into(),
                ErrorCode::MethodNotAllowed(_) => {
                    "the path does not answer this method (`Allow` lists those it answers)".into()
                }
                ErrorCode::TooLarge => format!(
                    "the body is larger than {} ({} with a track token)",
                    text::size(MAX_PING_BYTES),
                    text::size(MAX_PING_WITH_TOKEN_BYTES)
                ),
                ErrorCode::UpgradeRequired => "the path only answers WebSocket upgrades".into(),
                ErrorCode::RateLimited => format!(
                    "too many requests from this client to this site (per client address and \
                     site, 600 a minute of each kind: pings, sockets, private reads), or too many \
                     signals for one session (at most {MAX_SIGNALS} at once, \
                     {MAX_NEW_SIGNALS_PER_SECOND} new ones a second)"
                ),
                ErrorCode::TooManyFromAddress => "the client's address holds \
                    `MAX_SESSIONS_PER_ADDRESS` live sessions or `MAX_SOCKETS_PER_ADDRESS` open \
                    sockets on the site (an IPv6 address by its /64)"
                    .into(),
                ErrorCode::Internal => "something went wrong on the server side (including a \
                    broken `SITES` configuration, or a broken entry for the site named)"
                    .into(),
                ErrorCode::SiteFull => {
                    "the site holds `MAX_SESSIONS` live sessions (per object)".into()
                }
                ErrorCode::TooManySockets => {
                    "the site holds `MAX_SOCKETS` open sockets (per object)".into()
                }
            }
        }
    }

    impl JsonSchema for ErrorCode {
        fn schema_name() -> Cow<'static, str> {
            "ErrorCode".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            let statuses: Vec<String> = ErrorCode::ALL
                .iter()
                .map(|c| format!("`{}` {}", c.as_str(), c.status()))
                .collect();
            json_schema!({
                "description": format!(
                    "Every error code of the API, with its status: {}.",
                    statuses.join(", ")
                ),
                "type": "string",
                "enum": ErrorCode::ALL.map(ErrorCode::as_str),
            })
        }
    }

    /// The `message` of an error answer.
    pub struct ErrorMessage;

    impl JsonSchema for ErrorMessage {
        fn schema_name() -> Cow<'static, str> {
            "ErrorMessage".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "One sentence for a person.",
                "type": "string",
                "minLength": 1,
            })
        }
    }
}
#[cfg(not(target_arch = "wasm32"))]
pub use schema::ErrorMessage;

/// An answer other than success: a contract code and a sentence for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn bad_token(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadToken, message)
    }
    pub fn unknown_site(site: &str) -> Self {
        Self::new(
            ErrorCode::UnknownSite,
            format!("The site \"{site}\" is not configured here."),
        )
    }
    pub fn forbidden_origin() -> Self {
        Self::new(
            ErrorCode::ForbiddenOrigin,
            "This origin may not use this site.",
        )
    }
    pub fn bot() -> Self {
        Self::new(ErrorCode::Bot, "Automated clients are not counted.")
    }
    pub fn entities_disabled() -> Self {
        Self::new(
            ErrorCode::EntitiesDisabled,
            "This site has no secret for entity tokens.",
        )
    }
    pub fn not_watchable(entity: &str) -> Self {
        Self::new(
            ErrorCode::NotWatchable,
            format!("The token does not allow watching \"{entity}\"."),
        )
    }
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "There is nothing at this path.")
    }
    pub fn method_not_allowed(allow: Allow) -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed(allow),
            format!("This path only answers {}.", allow.name()),
        )
    }
    pub fn too_large() -> Self {
        Self::new(
            ErrorCode::TooLarge,
            format!(
                "The body must be at most {MAX_PING_BYTES} bytes ({MAX_PING_WITH_TOKEN_BYTES} with a token)."
            ),
        )
    }
    pub fn upgrade_required() -> Self {
        Self::new(
            ErrorCode::UpgradeRequired,
            "This path only answers WebSocket upgrades.",
        )
    }
    pub fn rate_limited() -> Self {
        Self::new(
            ErrorCode::RateLimited,
            "Too many requests; slow down and try again shortly.",
        )
    }
    /// 429 `rate_limited`, saying which limit.
    pub fn rate_limited_because(message: &str) -> Self {
        Self::new(ErrorCode::RateLimited, message)
    }
    pub fn too_many_from_address() -> Self {
        Self::new(
            ErrorCode::TooManyFromAddress,
            "This address holds as many sessions or sockets on this site as it may.",
        )
    }
    pub fn site_full() -> Self {
        Self::new(
            ErrorCode::SiteFull,
            "This site has as many live sessions as it may hold; try again later.",
        )
    }
    pub fn too_many_sockets() -> Self {
        Self::new(
            ErrorCode::TooManySockets,
            "This site has as many open sockets as it may hold; try again later.",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "Something went wrong on our side; try again.",
        )
    }

    /// The error an answer's JSON body holds (an object's refusal, as the Worker reads it);
    /// `None` for any other body.
    pub fn from_body(body: &str) -> Option<ApiError> {
        let answer: ErrorAnswer = serde_json::from_slice(body.as_bytes()).ok()?;
        let code = ErrorCode::parse(&answer.error.code)?;
        Some(ApiError::new(code, answer.error.message))
    }

    /// The JSON body: `{"error":{"code":..,"message":..}}`.
    pub fn body(&self) -> String {
        let answer = ErrorAnswer {
            error: ErrorDetail {
                code: self.code.as_str().into(),
                message: self.message.as_str().into(),
            },
        };
        // a struct of two strings always serializes
        serde_json::to_string(&answer).unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status(),
            self.code.as_str(),
            self.message
        )
    }
}

impl From<crate::presence::Refusal> for ApiError {
    fn from(r: crate::presence::Refusal) -> Self {
        match r {
            crate::presence::Refusal::SiteFull => ApiError::site_full(),
            crate::presence::Refusal::TooManySockets => ApiError::too_many_sockets(),
            crate::presence::Refusal::TooManyFromAddress => ApiError::too_many_from_address(),
            crate::presence::Refusal::NotYours => ApiError::bad_token(
                "This session carries an entity: send its track token with every ping.",
            ),
            crate::presence::Refusal::BadSignal => {
                ApiError::bad_request(crate::presence::BAD_SIGNAL)
            }
            crate::presence::Refusal::TooManySignals => {
                ApiError::rate_limited_because(crate::presence::TOO_MANY_SIGNALS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_reads_back_as_the_same_error() {
        for e in [
            ApiError::site_full(),
            ApiError::too_many_sockets(),
            ApiError::not_watchable("user:1"),
            ApiError::bad_request("no"),
            ApiError::internal(),
        ] {
            assert_eq!(ApiError::from_body(&e.body()), Some(e.clone()));
        }
        assert_eq!(ErrorCode::parse("method_not_allowed"), None);
        assert_eq!(
            ApiError::from_body(r#"{"error":{"code":"nope","message":"x"}}"#),
            None
        );
        assert_eq!(ApiError::from_body("{}"), None);
        assert_eq!(ApiError::from_body("<html>"), None);
    }

    #[test]
    fn error_bodies_follow_the_contract() {
        let v: serde_json::Value = serde_json::from_str(&ApiError::bot().body()).unwrap();
        assert_eq!(v["error"]["code"], "bot");
        assert!(v["error"]["message"].as_str().unwrap().ends_with('.'));
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn the_list_of_every_code_has_each_code_once() {
        // a new code fails to compile here until it is listed in ErrorCode::ALL too
        let index = |c: ErrorCode| match c {
            ErrorCode::BadRequest => 0,
            ErrorCode::BadToken => 1,
            ErrorCode::UnknownSite => 2,
            ErrorCode::ForbiddenOrigin => 3,
            ErrorCode::Bot => 4,
            ErrorCode::EntitiesDisabled => 5,
            ErrorCode::NotWatchable => 6,
            ErrorCode::NotFound => 7,
            ErrorCode::MethodNotAllowed(_) => 8,
            ErrorCode::TooLarge => 9,
            ErrorCode::UpgradeRequired => 10,
            ErrorCode::RateLimited => 11,
            ErrorCode::TooManyFromAddress => 12,
            ErrorCode::Internal => 13,
            ErrorCode::SiteFull => 14,
            ErrorCode::TooManySockets => 15,
        };
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(index(code), i, "{}", code.as_str());
            let parsed = ErrorCode::parse(code.as_str());
            assert_eq!(
                parsed.is_none(),
                code.allow().is_some(),
                "{}",
                code.as_str()
            );
        }
    }

    #[test]
    fn each_code_has_its_status_and_a_405_names_what_is_allowed() {
        let cases = [
            (ApiError::bad_request("x"), 400, "bad_request"),
            (ApiError::bad_token("x"), 401, "bad_token"),
            (ApiError::unknown_site("s"), 403, "unknown_site"),
            (ApiError::forbidden_origin(), 403, "forbidden_origin"),
            (ApiError::bot(), 403, "bot"),
            (ApiError::entities_disabled(), 403, "entities_disabled"),
            (ApiError::not_watchable("e"), 403, "not_watchable"),
            (ApiError::not_found(), 404, "not_found"),
            (
                ApiError::method_not_allowed(Allow::Get),
                405,
                "method_not_allowed",
            ),
            (ApiError::too_large(), 413, "too_large"),
            (ApiError::upgrade_required(), 426, "upgrade_required"),
            (ApiError::rate_limited(), 429, "rate_limited"),
            (ApiError::internal(), 500, "internal_error"),
            (ApiError::site_full(), 503, "site_full"),
            (ApiError::too_many_sockets(), 503, "too_many_sockets"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status(), e.code.as_str()), (status, code));
            assert_eq!(e.code.allow().is_some(), status == 405, "{code}");
        }
        assert_eq!(
            ApiError::method_not_allowed(Allow::Post).code.allow(),
            Some("POST, OPTIONS")
        );
        assert_eq!(
            ApiError::method_not_allowed(Allow::Upgrade).code.allow(),
            Some("GET, OPTIONS")
        );
        assert_eq!(
            ApiError::method_not_allowed(Allow::Get).code.allow(),
            Some("GET, HEAD, OPTIONS")
        );
    }
}
