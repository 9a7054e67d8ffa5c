//! The routes of the API as data: each path, the methods it answers, what it is, and the error
//! codes it can answer. The Worker routes by this table, logs by it, and the OpenAPI document
//! lists exactly these paths with these errors.

use super::error::{Allow, ErrorCode};

/// What a route does (the Worker has one function per op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Ping,
    Count,
    Rooms,
    History,
    Status,
    Members,
    Live,
    Badge,
    OpenApi,
}

/// One route of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub allow: Allow,
    pub op: Op,
    /// Every error code this route can answer (each with its own status).
    pub errors: &'static [ErrorCode],
}

use ErrorCode::*;

#[cfg(not(target_arch = "wasm32"))]
/// Errors every route can answer: a malformed query, a broken configuration.
const ANY: [ErrorCode; 2] = [BadRequest, Internal];

/// The routes, in the order the API presents them.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/v1/ping",
        allow: Allow::Post,
        op: Op::Ping,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            Bot,
            EntitiesDisabled,
            TooLarge,
            RateLimited,
            TooManyFromAddress,
            Internal,
            SiteFull,
        ],
    },
    Route {
        path: "/v1/count",
        allow: Allow::Get,
        op: Op::Count,
        errors: &[BadRequest, UnknownSite, ForbiddenOrigin, Internal],
    },
    Route {
        path: "/v1/rooms",
        allow: Allow::Get,
        op: Op::Rooms,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            RateLimited,
            Internal,
        ],
    },
    Route {
        path: "/v1/history",
        allow: Allow::Get,
        op: Op::History,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            RateLimited,
            Internal,
        ],
    },
    Route {
        path: "/v1/status",
        allow: Allow::Get,
        op: Op::Status,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            EntitiesDisabled,
            NotWatchable,
            RateLimited,
            Internal,
        ],
    },
    Route {
        path: "/v1/members",
        allow: Allow::Get,
        op: Op::Members,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            EntitiesDisabled,
            NotWatchable,
            RateLimited,
            Internal,
        ],
    },
    Route {
        path: "/v1/live",
        allow: Allow::Upgrade,
        op: Op::Live,
        errors: &[
            BadRequest,
            BadToken,
            UnknownSite,
            ForbiddenOrigin,
            Bot,
            EntitiesDisabled,
            NotWatchable,
            UpgradeRequired,
            RateLimited,
            TooManyFromAddress,
            Internal,
            SiteFull,
            TooManySockets,
        ],
    },
    Route {
        path: "/v1/badge.svg",
        allow: Allow::Get,
        op: Op::Badge,
        errors: &[BadRequest, UnknownSite, ForbiddenOrigin, Internal],
    },
    Route {
        path: "/v1/openapi.json",
        allow: Allow::Get,
        op: Op::OpenApi,
        errors: &[BadRequest, NotFound, Internal],
    },
];

#[cfg(not(target_arch = "wasm32"))]
/// The errors of a CORS preflight (`OPTIONS` on any route).
pub const PREFLIGHT_ERRORS: &[ErrorCode] = &[BadRequest, UnknownSite, ForbiddenOrigin, Internal];
#[cfg(not(target_arch = "wasm32"))]
/// The errors of a path under `/v1` that the API does not have.
pub const UNKNOWN_PATH_ERRORS: &[ErrorCode] = &[BadRequest, NotFound, Internal];

/// The route of `path`, if the API has one.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == path)
}

#[cfg(not(target_arch = "wasm32"))]
/// The errors of a method a route does not answer.
pub fn other_method_errors(allow: Allow) -> [ErrorCode; 3] {
    [ANY[0], MethodNotAllowed(allow), ANY[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_under_v1_once_and_answers_the_errors_of_any_request() {
        let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ROUTES.len());
        for r in ROUTES {
            assert!(r.path.starts_with("/v1/"), "{}", r.path);
            assert!(ANY.iter().all(|e| r.errors.contains(e)), "{}", r.path);
            assert_eq!(find(r.path), Some(r));
        }
        assert_eq!(find("/v1/nothing"), None);
    }
}
