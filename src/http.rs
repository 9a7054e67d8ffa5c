//! JSON responses, shared by the Worker and the objects: one builder for successes and one for
//! the contract's errors (status, `Allow` on a 405, CORS for the page that asked).

use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Headers, Response, ResponseBuilder, Result};

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

/// An object's JSON answer that only its caller reads (the Worker's count copies, another
/// object of the site): the body alone. Made as the runtime's `Response` from the text (no copy
/// of the body into a `Uint8Array`, no `ResponseInit`).
pub fn internal_json(body: &str) -> std::result::Result<web_sys::Response, wasm_bindgen::JsValue> {
    web_sys::Response::new_with_opt_str(Some(body))
}

thread_local! {
    /// The public headers of the last origin answered: the `Response` constructor copies the
    /// headers it is given, so one `Headers` object serves every answer to the same origin (a
    /// site's pages share one), four header sets less per ping. Never changed once made (a
    /// `Headers` holds no I/O, so it may outlive the request that made it).
    static PUBLIC_HEADERS: std::cell::RefCell<Option<(Option<String>, web_sys::Headers)>> =
        const { std::cell::RefCell::new(None) };
}

/// An object's JSON answer that the Worker hands to the client as it is: with the public
/// headers for `origin`, so that the Worker makes no second `Response`.
pub fn public_json(
    body: &str,
    origin: Option<&str>,
) -> std::result::Result<web_sys::Response, wasm_bindgen::JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_headers(&cached_public_headers(origin)?.into());
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init)
}

/// [`public_headers`] for `origin`, made once per origin in a row.
fn cached_public_headers(origin: Option<&str>) -> Result<web_sys::Headers> {
    let cached = PUBLIC_HEADERS.with_borrow(|c| {
        c.as_ref()
            .filter(|(o, _)| o.as_deref() == origin)
            .map(|(_, h)| h.clone())
    });
    Ok(match cached {
        Some(h) => h,
        None => {
            let h = public_headers(origin)?.0;
            PUBLIC_HEADERS.set(Some((origin.map(str::to_owned), h.clone())));
            h
        }
    })
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
    /// A call whose JSON answer the Worker hands to the client as it is, from this `Origin`.
    Public(&'a crate::api::SiteCall, Option<&'a str>),
    Shard(&'a crate::presence::shards::ShardCall),
}

/// The runtime's objects, called below workers-rs on the hot path of every ping: its
/// `Stub::fetch_with_request` needs a `worker::Request` (built in JS, then read back: method,
/// URL, headers and `cf`) and answers a `worker::Response` (status, headers, socket, `cf` and
/// body read back): about 8% of a heartbeat's workerd CPU in a profile. Here the call is one
/// call into JS (`callObject` in `src/runtime.js`: the binding, the stub by name, a `Headers`
/// with the call, its `fetch`; made step by step from Wasm they were six calls and 3% of a
/// heartbeat), and its answer stays the runtime's `Response`.
mod raw {
    use wasm_bindgen::prelude::wasm_bindgen;
    use worker::js_sys::Promise;

    #[wasm_bindgen(module = "/src/runtime.js")]
    extern "C" {
        /// `env.PRESENCE.getByName(name).fetch(..)` with `call` in its header (a site call, or
        /// a shard call when `shard`), the client's `origin` for a public call, and the upgrade
        /// headers when `upgrade`.
        #[wasm_bindgen(catch, js_name = callObject)]
        pub fn call_object(
            env: &worker::Env,
            name: &str,
            call: &str,
            shard: bool,
            origin: Option<&str>,
            upgrade: bool,
        ) -> Result<Promise, wasm_bindgen::JsValue>;

        /// `env.ASSETS.fetch(input)`: a file of `public/`.
        #[wasm_bindgen(catch, js_name = fetchAsset)]
        pub fn fetch_asset(
            env: &worker::Env,
            input: &wasm_bindgen::JsValue,
        ) -> Result<Promise, wasm_bindgen::JsValue>;
    }
}

/// A file of `public/` from the assets: `input` is the client's request, or a URL.
pub async fn asset(env: &worker::Env, input: &wasm_bindgen::JsValue) -> Result<web_sys::Response> {
    let answer = JsFuture::from(raw::fetch_asset(env, input)?).await?;
    Ok(wasm_bindgen::JsCast::unchecked_into(answer))
}

/// Sends `call` to object `shard` of `shards` of `site` (the call in its header, and which
/// object it is in another; `upgrade` forwards a WebSocket upgrade) and answers its response.
/// The Worker calls objects this way, and objects call each other.
pub async fn call_object(
    env: &worker::Env,
    site: &str,
    at: (u32, u32),
    call: ObjectCall<'_>,
    upgrade: bool,
) -> Result<web_sys::Response> {
    let answer = JsFuture::from(object_promise(env, site, at, call, upgrade)?).await?;
    Ok(wasm_bindgen::JsCast::unchecked_into(answer))
}

/// [`call_object`]'s request, made: the stub's `fetch` promise.
pub fn object_promise(
    env: &worker::Env,
    site: &str,
    (shard, shards): (u32, u32),
    call: ObjectCall<'_>,
    upgrade: bool,
) -> Result<worker::js_sys::Promise> {
    use crate::api::call::{encode_for, object_name};
    let at = (shard, shards);
    let (call, is_shard, origin) = match call {
        ObjectCall::Site(c) => (encode_for(at, c), false, None),
        ObjectCall::Public(c, origin) => {
            (encode_for(at, c), false, Some(origin.unwrap_or_default()))
        }
        ObjectCall::Shard(c) => (encode_for(at, c), true, None),
    };
    let name = object_name(site, shard);
    Ok(raw::call_object(
        env, &name, &call, is_shard, origin, upgrade,
    )?)
}

/// An answer's body as text (empty when it cannot be read).
pub async fn text_of(resp: &web_sys::Response) -> String {
    let Ok(promise) = resp.text() else {
        return String::new();
    };
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// An answer's JSON body as `T`; `None` when it is not one.
pub async fn read_json<T: serde::de::DeserializeOwned>(resp: web_sys::Response) -> Option<T> {
    serde_json::from_slice(text_of(&resp).await.as_bytes()).ok()
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
