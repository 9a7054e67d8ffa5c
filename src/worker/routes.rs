//! One function per route: parse and validate, check, then hand the site's object one typed
//! call (`Edge::relay` for JSON answers, `Edge::call_object` for a socket).

use worker::{web_sys, Headers, Request, Response};

use super::client_headers::ClientHeaders;

use super::Edge;
use crate::api::headers::{bearer, declares_more_than, is_websocket_upgrade, ping_content_type_ok};
use crate::api::{
    parse_count, parse_history, parse_live, parse_members, parse_ping, parse_rooms, parse_status,
    ApiError, Ping, SiteCall, MAX_PING_WITH_TOKEN_BYTES,
};
use crate::http::{ObjectCall, MAX_ORIGIN_ECHO};
use crate::presence::shards::ShardCall;
use crate::presence::Counts;
use crate::token;

/// The runtime's own `Response` (see `fetch` in `mod.rs`); a `worker::Response` converts.
type Answer = Result<web_sys::Response, ApiError>;

/// `POST /v1/ping` (the usual one, with its length declared within the cap, is answered by
/// `chain.rs` instead, with the same steps below).
pub async fn ping(req: web_sys::Request, headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let body = match declared_length(headers)? {
        Some(_) => read_whole(&req).await.map_err(|_| unreadable())?,
        None => read_capped(&mut Request::from(req), MAX_PING_WITH_TOKEN_BYTES).await?,
    };
    let ping = checked_ping(&body, headers, edge)?;
    edge.rate_limit("ping", &ping.site).await?;
    let site = ping.site.clone();
    edge.relay(&site, SiteCall::Ping(ping)).await
}

/// 400: a body that could not be read.
pub fn unreadable() -> ApiError {
    ApiError::bad_request("The body could not be read.")
}

/// A ping's declared length: 413 `too_large` past the cap; `Some` when declared within it (the
/// common case, read in one call), `None` when the body must be streamed and cut at the cap.
pub fn declared_length(headers: &ClientHeaders) -> Result<Option<usize>, ApiError> {
    let length = headers.get("Content-Length");
    if declares_more_than(length.as_deref(), MAX_PING_WITH_TOKEN_BYTES) {
        return Err(ApiError::too_large());
    }
    Ok(length
        .as_deref()
        .and_then(|l| l.trim().parse::<usize>().ok())
        .filter(|n| *n <= MAX_PING_WITH_TOKEN_BYTES))
}

/// A ping's body checked, in order: its size and type, its fields, the site and its origins,
/// bots, an entity's token; with the client's address. What is left is the rate limit and the
/// object.
pub fn checked_ping(
    body: &[u8],
    headers: &ClientHeaders,
    edge: &Edge<'_>,
) -> Result<Ping, ApiError> {
    if body.len() > MAX_PING_WITH_TOKEN_BYTES {
        return Err(ApiError::too_large());
    }
    let content_type = headers.get("Content-Type");
    if !ping_content_type_ok(content_type.as_deref()) {
        return Err(ApiError::bad_request(
            "Send the ping as application/json or text/plain.",
        ));
    }
    let mut ping = parse_ping(body)?;
    let site = edge.site(&ping.site)?;
    let secret = ping
        .entity
        .as_ref()
        .map(|_| edge.secrets(site))
        .transpose()?;
    edge.not_a_bot(headers)?;
    if let (Some(entity), Some(secret)) = (&ping.entity, &secret) {
        let claims = edge.verify(ping.token.as_deref(), secret)?;
        token::check_track(&claims, &ping.site, entity)?;
        ping.info = token::track_info(&claims)?;
    }
    ping.address = Some(edge.address.clone());
    Ok(ping)
}

/// `GET /v1/count?site=S[&room=R]`: at most a second old (see `reads.rs`).
pub async fn count(edge: &Edge<'_>) -> Answer {
    let q = parse_count(&edge.query)?;
    edge.site(&q.site)?;
    let body = super::reads::count(edge, q).await?;
    Ok(crate::http::json(200, body, edge.origin)?.into())
}

/// `GET /v1/rooms?site=S[&limit=K]` (a stats token when the site keeps its stats private)
pub async fn rooms(headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let q = parse_rooms(&edge.query)?;
    let site = edge.site(&q.site)?;
    edge.stats_allowed(headers, site, &q.site)?;
    edge.rate_limit("read", &q.site).await?;
    let site = q.site.clone();
    edge.relay(&site, SiteCall::Rooms(q)).await
}

/// `GET /v1/history?site=S[&range=1h|24h|7d]` (a stats token when the site keeps its stats
/// private)
pub async fn history(headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let q = parse_history(&edge.query)?;
    let site = edge.site(&q.site)?;
    edge.stats_allowed(headers, site, &q.site)?;
    edge.rate_limit("read", &q.site).await?;
    let site = q.site.clone();
    edge.relay(&site, SiteCall::History(q)).await
}

/// `GET /v1/status?site=S&entity=A,B` with a watch token
pub async fn status(headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let q = parse_status(&edge.query)?;
    let site = edge.site(&q.site)?;
    let secret = edge.secrets(site)?;
    let authorization = headers.get("Authorization");
    let claims = edge.verify(bearer(authorization.as_deref()), &secret)?;
    token::check_watch(&claims, &q.site)?;
    token::check_watchable(&claims, &q.entities)?;
    edge.rate_limit("read", &q.site).await?;
    let site = q.site.clone();
    edge.relay(&site, SiteCall::Status(q)).await
}

/// `GET /v1/members?site=S&room=R` with a watch token whose `rooms` allow R
pub async fn members(headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let q = parse_members(&edge.query)?;
    let site = edge.site(&q.site)?;
    let secret = edge.secrets(site)?;
    let authorization = headers.get("Authorization");
    let claims = edge.verify(bearer(authorization.as_deref()), &secret)?;
    token::check_watch(&claims, &q.site)?;
    token::check_room(&claims, &q.room)?;
    edge.rate_limit("read", &q.site).await?;
    let site = q.site.clone();
    let k = edge.shards_of(&site);
    if k == 1 {
        return edge.relay(&site, SiteCall::Members(q)).await;
    }
    // A sharded site: the entities are the coordinator's; anonymous sessions are on every
    // object. The shards say theirs (at once), then the coordinator answers with its own added.
    let ask = |shard: u32| {
        let call = ShardCall::Anonymous {
            site: site.clone(),
            room: q.room.clone(),
        };
        async move {
            let resp = edge
                .call_shard(call.site(), shard, ObjectCall::Shard(&call), false)
                .await?;
            crate::http::read_json::<Counts>(resp)
                .await
                .ok_or_else(ApiError::internal)
        }
    };
    let counts = futures_util::future::try_join_all((1..k).map(ask)).await?;
    let others = counts
        .into_iter()
        .fold(Counts::default(), crate::presence::shards::add);
    let mut q = q;
    q.shards_anonymous = Some(others);
    edge.relay_to(&site, 0, &SiteCall::Members(q)).await
}

/// `GET /v1/live?...` (WebSocket)
pub async fn live(headers: &ClientHeaders, edge: &Edge<'_>) -> Answer {
    let upgrade = headers.get("Upgrade");
    if !is_websocket_upgrade(upgrade.as_deref()) {
        return Err(ApiError::upgrade_required());
    }
    let mut q = parse_live(&edge.query)?;
    let site = edge.site(&q.site)?;
    let needs_secret = q.entity.is_some() || !q.watch.is_empty() || q.members.is_some();
    let secret = needs_secret.then(|| edge.secrets(site)).transpose()?;
    if q.session.is_some() {
        edge.not_a_bot(headers)?;
    }
    if let Some(secret) = &secret {
        let claims = edge.verify(q.token.as_deref(), secret)?;
        // its rights end with the token's, unless renewed on the socket
        q.grant = Some(token::Grant::of(&claims));
        match &q.entity {
            Some(entity) => {
                token::check_track(&claims, &q.site, entity)?;
                q.info = token::track_info(&claims)?;
            }
            None => {
                token::check_watch(&claims, &q.site)?;
                token::check_watchable(&claims, &q.watch)?;
                if let Some(room) = &q.members {
                    token::check_room(&claims, room)?;
                }
            }
        }
    }
    edge.rate_limit("live", &q.site).await?;
    q.address = Some(edge.address.clone());
    let site = q.site.clone();
    let resp = edge.call_object(&site, &SiteCall::Live(q), true).await?;
    if resp.status() == 101 {
        return Ok(resp);
    }
    // A refusal of the object (site_full, too_many_sockets): answered and logged as ours.
    Err(super::object_refusal(resp).await)
}

/// `OPTIONS`: allowed when the origin may use the site named in the query, or (for
/// `/v1/ping`, whose site is in the body) any configured site.
pub fn preflight(edge: &Edge<'_>) -> Answer {
    // a named site must be known (403 `unknown_site`) and allow the origin; with none named,
    // some site must allow it
    match edge.query.get("site") {
        Some(site) => {
            edge.site(site)?;
        }
        None if !edge.sites.any_allows(edge.origin) => return Err(ApiError::forbidden_origin()),
        None => {}
    }
    let headers = Headers::new();
    if let Some(o) = edge.origin.filter(|o| o.len() <= MAX_ORIGIN_ECHO) {
        headers.set("Access-Control-Allow-Origin", o)?;
    }
    headers.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
    headers.set(
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization",
    )?;
    headers.set("Access-Control-Max-Age", "86400")?;
    headers.set("Vary", "Origin")?;
    Ok(Response::empty()?
        .with_status(204)
        .with_headers(headers)
        .into())
}

/// A request body whose declared length is within the cap, in one read.
async fn read_whole(req: &web_sys::Request) -> worker::Result<Vec<u8>> {
    let buffer = worker::wasm_bindgen_futures::JsFuture::from(req.array_buffer()?).await?;
    Ok(worker::js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Reads a request body, keeping no more than `max` bytes of it: past that, the rest is
/// drained without being kept (so the client gets its answer) and the answer is 413
/// `too_large`.
async fn read_capped(req: &mut Request, max: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let unreadable = |_| unreadable();
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body); // no body at all
    };
    let mut too_large = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if !too_large {
            body.extend_from_slice(&chunk);
            if body.len() > max {
                too_large = true;
                body = Vec::new();
            }
        }
    }
    if too_large {
        return Err(ApiError::too_large());
    }
    Ok(body)
}

/// `/v1/_test/{panic,fail-alarm,memory}?site=S` (the `test-hooks` feature and the
/// `HERENOW_TEST_HOOKS` var): fault injection and measurement.
#[cfg(feature = "test-hooks")]
pub async fn test_hook(edge: &Edge<'_>, path: &str) -> Answer {
    use crate::api::call::{HookAnswer, TestHook};
    let site = edge.query.get("site").unwrap_or_default().to_owned();
    edge.site(&site)?;
    let name = path.trim_start_matches("/v1/_test");
    let hook = match name {
        "/clock" => TestHook::Clock {
            offset_ms: edge
                .query
                .get("offset_ms")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ApiError::bad_request("offset_ms: a whole number"))?,
        },
        "/panic" => TestHook::Panic,
        "/fail-alarm" => TestHook::FailAlarm,
        "/memory" => TestHook::Memory,
        _ => return Err(ApiError::not_found()),
    };
    let call = SiteCall::Test {
        site: site.clone(),
        hook,
    };
    if matches!(hook, TestHook::Memory | TestHook::Clock { .. }) {
        let resp = edge.call_object(&site, &call, false).await?;
        let mut answer: HookAnswer = crate::http::read_json(resp)
            .await
            .ok_or_else(ApiError::internal)?;
        if let HookAnswer::Memory {
            worker_wasm_bytes, ..
        } = &mut answer
        {
            *worker_wasm_bytes = Some(core::arch::wasm32::memory_size::<0>() as u64 * 65_536);
        }
        return Ok(crate::http::json(200, to_json(&answer), edge.origin)?.into());
    }
    // Answer first: a panic resets the whole Wasm instance, this request included.
    let env = edge.env.clone();
    edge.ctx.wait_until(async move {
        let _ = crate::http::call_object(&env, &site, (0, 1), ObjectCall::Site(&call), false).await;
    });
    let taken = HookAnswer::Taken {
        hook: name.to_owned(),
    };
    Ok(crate::http::json(202, to_json(&taken), edge.origin)?.into())
}

/// `value` as JSON text (the answers' plain types always serialize).
#[cfg(feature = "test-hooks")]
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API, kept in `public/openapi.json`
/// and served from the assets (not compiled into the Worker).
pub async fn openapi(edge: &Edge<'_>) -> Answer {
    let url = wasm_bindgen::JsValue::from_str("https://assets.local/openapi.json");
    let resp = crate::http::asset(edge.env, &url).await?;
    if resp.status() != 200 {
        return Err(ApiError::not_found());
    }
    let text = crate::http::text_of(&resp).await;
    if text.is_empty() {
        return Err(ApiError::internal());
    }
    let resp = crate::http::json(200, text, edge.origin)?;
    // a document anyone may read and cache for a while
    resp.headers().set("Cache-Control", "public, max-age=300")?;
    resp.headers().set("Access-Control-Allow-Origin", "*")?;
    Ok(resp.into())
}

/// `GET /v1/badge.svg?site=S[&room=R][&label=TEXT]`: "online now | 42" as SVG, cached at most
/// 10 s (by browsers and by image proxies such as GitHub's).
pub async fn badge(edge: &Edge<'_>) -> Answer {
    use crate::api::answers::CountAnswer;
    use crate::api::badge::{parse_badge, short_count, svg};
    let q = parse_badge(&edge.query)?;
    edge.site(&q.site)?;
    let count = crate::api::CountQuery {
        site: q.site.clone(),
        room: q.room.clone(),
    };
    let body = super::reads::count(edge, count).await?;
    let counts: CountAnswer =
        serde_json::from_slice(body.as_bytes()).map_err(|_| ApiError::internal())?;
    let sessions = match counts.room {
        Some(room) => room.sessions,
        None => counts.site.sessions,
    };
    let body = svg(&q.label, &short_count(sessions), sessions > 0);
    let headers = badge_headers("public, max-age=10")?;
    Ok(Response::ok(body)?.with_headers(headers).into())
}

/// A refused badge (an unknown site, a refused origin, a bad query, a flood): an image with the
/// refusal's status, its label from the query, and what is wrong in its value box; never
/// cached. An `<img>` shows it where a JSON error would show a broken picture.
pub fn badge_refusal(query: &str, e: &ApiError) -> worker::Result<Response> {
    use crate::api::badge::{label_of, refusal_words, svg_in, REFUSED_COLOR};
    let label = crate::api::Query::parse(query)
        .map(|q| label_of(&q))
        .unwrap_or_else(|_| crate::api::badge::DEFAULT_LABEL.to_owned());
    let body = svg_in(&label, refusal_words(e.code), REFUSED_COLOR);
    let headers = badge_headers("no-store")?;
    // the contract's code, for whoever looks at the response rather than the picture
    headers.set("Herenow-Error", e.code.as_str())?;
    if let Some(allow) = e.code.allow() {
        headers.set("Allow", allow)?;
    }
    Ok(Response::ok(body)?
        .with_status(e.status())
        .with_headers(headers))
}

/// The headers of every badge answer.
fn badge_headers(cache: &str) -> worker::Result<Headers> {
    let headers = Headers::new();
    headers.set("Content-Type", "image/svg+xml; charset=utf-8")?;
    headers.set("Cache-Control", cache)?;
    headers.set("Access-Control-Allow-Origin", "*")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    // an image never runs script, even when opened on its own
    headers.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'",
    )?;
    Ok(headers)
}
