//! JSON responses, shared by the Worker and the objects: one builder for successes and one for
//! the contract's errors (status, `Allow` on a 405, CORS for the page that asked).

use worker::{Headers, Response, ResponseBuilder, Result};

use crate::api::ApiError;

/// The longest `Origin` echoed in `Access-Control-Allow-Origin` (an origin is a scheme, host
/// and port; anything longer is not echoed back).
pub const MAX_ORIGIN_ECHO: usize = 255;

/// The headers of every JSON answer: no caching, CORS for `origin` when given.
pub fn public_headers(origin: Option<&str>) -> Result<Headers> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("Vary", "Origin")?;
    if let Some(o) = origin.filter(|o| o.len() <= MAX_ORIGIN_ECHO) {
        headers.set("Access-Control-Allow-Origin", o)?;
    }
    Ok(headers)
}

/// A JSON answer with the public headers (built with them: `Response::ok` would set a
/// `Content-Type` on headers that are then replaced).
pub fn json(status: u16, body: String, origin: Option<&str>) -> Result<Response> {
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(public_headers(origin)?)
        .fixed(body.into_bytes()))
}

/// An object's JSON answer to the Worker or to another object of the site: the body alone. The
/// Worker answers clients with its own public headers ([`relay`]) and objects only read the
/// body, so no header is set on the hot path of every ping.
pub fn internal_json(body: String) -> Response {
    ResponseBuilder::new().fixed(body.into_bytes())
}

/// Another answer's body (an object's JSON), passed through unread with the public headers.
pub fn relay(resp: Response, status: u16, origin: Option<&str>) -> Result<Response> {
    Ok(resp
        .with_status(status)
        .with_headers(public_headers(origin)?))
}

/// The contract's error answer: `{"error":{"code","message"}}` with its status, and `Allow`
/// on a 405.
pub fn error(e: &ApiError, origin: Option<&str>) -> Result<Response> {
    let resp = json(e.status(), e.body(), origin)?;
    if let Some(allow) = e.code.allow() {
        resp.headers().set("Allow", allow)?;
    }
    Ok(resp)
}

/// A call to a site's object: its header (the public API's calls, or the objects' own protocol).
pub enum ObjectCall<'a> {
    Site(&'a crate::api::SiteCall),
    Shard(&'a crate::presence::shards::ShardCall),
}

/// Sends `call` to object `shard` of `shards` of `site` (the call in its header, and which
/// object it is in another; `upgrade` forwards a WebSocket upgrade) and answers its response.
/// The Worker calls objects this way, and objects call each other.
pub async fn call_object(
    env: &worker::Env,
    site: &str,
    (shard, shards): (u32, u32),
    call: ObjectCall<'_>,
    upgrade: bool,
) -> Result<Response> {
    use crate::api::call::{encode_for, object_name, CALL_HEADER};
    use crate::presence::shards::SHARD_CALL_HEADER;
    let headers = Headers::new();
    let at = (shard, shards);
    match call {
        ObjectCall::Site(c) => headers.set(CALL_HEADER, &encode_for(at, c))?,
        ObjectCall::Shard(c) => headers.set(SHARD_CALL_HEADER, &encode_for(at, c))?,
    }
    if upgrade {
        headers.set("Upgrade", "websocket")?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Get).with_headers(headers);
    let req = worker::Request::new_with_init("https://presence/", &init)?;
    let stub = env
        .durable_object("PRESENCE")?
        .id_from_name(&object_name(site, shard))?
        .get_stub()?;
    stub.fetch_with_request(req).await
}

/// An answer's JSON body as `T`; `None` when it is not one.
pub async fn read_json<T: serde::de::DeserializeOwned>(mut resp: Response) -> Option<T> {
    let text = resp.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// The secrets that sign a site's tokens, newest first, by name: those of `cfg.secret_env`
/// that are set (a listed secret that is not set is logged and skipped: a rotation half done
/// must not refuse the other's tokens).
pub fn site_keys(env: &worker::Env, cfg: &crate::config::SiteConfig) -> Vec<(String, Vec<u8>)> {
    let mut keys = Vec::new();
    for name in &cfg.secret_env {
        let value = env
            .secret(name)
            .map(|s| s.to_string())
            .or_else(|_| env.var(name).map(|v| v.to_string()))
            .unwrap_or_default();
        if value.is_empty() {
            worker::console_error!("the secret {name} named by SITES is not set");
            continue;
        }
        keys.push((name.clone(), value.into_bytes()));
    }
    keys
}
