//! The Worker's and the objects' log lines, one JSON object each, for Workers Logs,
//! `wrangler tail` and Logpush: what happened and where, never an IP, a User-Agent, an Origin,
//! an id or a token.

use serde::Serialize;

/// One log line: `{"herenow": <kind>, ...}`.
#[derive(Debug, Serialize)]
#[serde(tag = "herenow", rename_all = "snake_case")]
pub enum Line<'a> {
    /// A request the Worker refused (the contract's code and status, the route and the site).
    Refused(Refusal<'a>),
    /// A request that failed on our side (500 `internal_error`), or a site that cannot work as
    /// configured.
    Error(Problem<'a>),
    /// A runtime error on a request path, as the runtime said it.
    Internal { message: &'a str },
}

/// Where and how a request was refused.
#[derive(Debug, Serialize)]
pub struct Refusal<'a> {
    pub code: &'a str,
    pub status: u16,
    pub route: &'a str,
    pub site: Option<&'a str>,
}

/// What went wrong on our side: a refusal-shaped line for a request, or a site's problem.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Problem<'a> {
    Request(Refusal<'a>),
    Site {
        message: &'a str,
        site: &'a str,
        secret_env: &'a str,
    },
}

/// A webhook delivery given up after its last try, or dropped to keep the queue bounded:
/// `{"event":"webhook_given_up"|"webhook_dropped","id":..}`.
#[derive(Debug, Serialize)]
pub struct WebhookLine<'a> {
    pub event: &'static str,
    pub id: &'a str,
}

impl Line<'_> {
    /// The line as JSON text (these plain structs always serialize).
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl WebhookLine<'_> {
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_the_shapes_operators_filter_on() {
        let refusal = Refusal {
            code: "site_full",
            status: 503,
            route: "/v1/ping",
            site: Some("demo"),
        };
        assert_eq!(
            Line::Refused(refusal).text(),
            r#"{"herenow":"refused","code":"site_full","status":503,"route":"/v1/ping","site":"demo"}"#
        );
        let line = Line::Error(Problem::Site {
            message: "m",
            site: "s",
            secret_env: "K",
        });
        assert_eq!(
            line.text(),
            r#"{"herenow":"error","message":"m","site":"s","secret_env":"K"}"#
        );
        assert_eq!(
            Line::Internal { message: "x" }.text(),
            r#"{"herenow":"internal","message":"x"}"#
        );
        let given_up = WebhookLine {
            event: "webhook_given_up",
            id: "evt_1",
        };
        assert_eq!(
            given_up.text(),
            r#"{"event":"webhook_given_up","id":"evt_1"}"#
        );
    }
}
