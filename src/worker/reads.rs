//! Public reads that stay cheap under a flood: once a site and room is read more than
//! [`FLOOD_READS`](crate::api::copies::FLOOD_READS) times in a second, `/v1/count` (and the
//! badge, which reads it) is answered from a copy at most [`FRESH_MS`] old, renewed ahead by one
//! read at a time ([`crate::api::copies`]), so a flood of reads costs the site's object about
//! one read a second per site and room, while an ordinary reader reads the object itself and
//! sees its own writes at once. When the object is slow and a copy ends before its renewal is
//! answered, the reads of that moment wait for the renewal (at most a copy's life) instead of
//! each reading the object. The copies:
//!
//! - in this isolate (a copy per site and room, kept [`FRESH_MS`]): this bounds reads wherever
//!   the Worker runs, `workers.dev` included;
//! - in the data center's edge cache (the Workers Cache API, `caches.default`), shared by the
//!   isolates of a location: it applies on a custom domain or route; on `workers.dev` it stores
//!   nothing, and the isolate's copy is the bound.
//!
//! The copies hold the object's JSON only; each answer gets the public headers of its request
//! (its own CORS origin).

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::JsValue;
use worker::js_sys::{Function, Promise};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Cache, Headers, Response};

use super::Edge;
use crate::api::copies::{Copies, Read, FRESH_MS};
use crate::api::{ApiError, CountQuery, SiteCall};

/// The header an edge-cache copy keeps the time of its object read in (ms since the epoch).
const READ_AT: &str = "Herenow-Read-At";

thread_local! {
    /// Site and room -> its reads and its last answer, in this isolate.
    static COPIES: RefCell<Copies> = RefCell::new(Copies::default());
    /// Site and room -> the promise that reads waiting for a late renewal wait on, and its
    /// `resolve` (made by the first read that waits; see [`Read::Wait`]).
    static WAITING: RefCell<HashMap<String, (Promise, Function)>> = RefCell::new(HashMap::new());
}

/// The JSON of `GET /v1/count` for `q`: the object's answer, or in a flood a fresh copy.
pub async fn count(edge: &Edge<'_>, q: CountQuery) -> Result<String, ApiError> {
    let key = format!("{}\n{}", q.site, q.room.as_deref().unwrap_or(""));
    let mut waits = 0;
    let (now, flood, refresh) = loop {
        let now = worker::js_sys::Date::now() as u64;
        match COPIES.with_borrow_mut(|c| c.read(&key, now)) {
            Read::Copy(body) => return Ok(body),
            Read::Object { flood, refresh } => break (now, flood, refresh),
            // a renewal that does not come within a copy's life is given up (the next read
            // renews); after two, this read goes to the object itself
            Read::Wait if waits == 2 => break (now, true, true),
            Read::Wait => match renewed(&key).await {
                Some(body) => return Ok(body),
                None => waits += 1,
            },
        }
    };
    let answer = read_object(edge, &key, q, now, flood, refresh).await;
    if answer.is_err() {
        COPIES.with_borrow_mut(|c| c.renewal_failed(&key));
    }
    // whatever came of it, the reads waiting for this key go on
    if let Some((_, resolve)) = WAITING.with_borrow_mut(|w| w.remove(&key)) {
        let body = answer
            .as_ref()
            .ok()
            .map_or(JsValue::UNDEFINED, |b| b.into());
        let _ = resolve.call1(&JsValue::UNDEFINED, &body);
    }
    answer
}

/// The object's answer for `q` (in a flood, the edge cache's copy first unless `refresh`),
/// kept as the copy of `key`.
async fn read_object(
    edge: &Edge<'_>,
    key: &str,
    q: CountQuery,
    now: u64,
    flood: bool,
    refresh: bool,
) -> Result<String, ApiError> {
    let url = cache_url(&q);
    if flood && !refresh {
        if let Some((at, body)) = from_edge_cache(&url, now).await {
            COPIES.with_borrow_mut(|c| c.keep(key, at, body.clone()));
            return Ok(body);
        }
    }
    let resp = edge
        .call_object(&q.site.clone(), &SiteCall::Count(q), false)
        .await?;
    if resp.status() != 200 {
        return Err(super::object_refusal(resp).await);
    }
    let body = crate::http::text_of(&resp).await;
    COPIES.with_borrow_mut(|c| c.keep(key, now, body.clone()));
    if flood {
        to_edge_cache(edge, url, now, body.clone());
    }
    Ok(body)
}

/// The answer of the renewal on its way for `key`, waited for at most [`FRESH_MS`]; `None`
/// when it failed or did not come in time.
async fn renewed(key: &str) -> Option<String> {
    let promise = WAITING.with_borrow_mut(|w| {
        if let Some((p, _)) = w.get(key) {
            return Some(p.clone());
        }
        let mut resolve = None;
        let p = Promise::new(&mut |res, _| resolve = Some(res));
        w.insert(key.to_owned(), (p.clone(), resolve?));
        Some(p)
    })?;
    let wait = JsFuture::from(promise);
    let late = worker::Delay::from(std::time::Duration::from_millis(FRESH_MS));
    match futures_util::future::select(wait, late).await {
        futures_util::future::Either::Left((Ok(body), _)) => body.as_string(),
        _ => None,
    }
}

/// The edge cache's key of a count: a URL of its own (no client text but the validated site
/// and room, encoded).
fn cache_url(q: &CountQuery) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    match &q.room {
        Some(room) => format!(
            "https://herenow.internal/v1/count?site={}&room={}",
            enc(&q.site),
            enc(room)
        ),
        None => format!("https://herenow.internal/v1/count?site={}", enc(&q.site)),
    }
}

/// A copy in the edge cache younger than [`FRESH_MS`], and when the object gave it.
async fn from_edge_cache(url: &str, now: u64) -> Option<(u64, String)> {
    let mut resp = Cache::default().get(url, true).await.ok()??;
    let at: u64 = resp.headers().get(READ_AT).ok()??.parse().ok()?;
    if now.saturating_sub(at) >= FRESH_MS {
        return None;
    }
    Some((at, resp.text().await.ok()?))
}

/// Keeps the answer read at `at` in the edge cache for [`FRESH_MS`], after the answer went out.
fn to_edge_cache(edge: &Edge<'_>, url: String, at: u64, body: String) {
    edge.ctx.wait_until(async move {
        let headers = Headers::new();
        let max_age = format!("public, max-age={}", FRESH_MS / 1000);
        if headers.set("Cache-Control", &max_age).is_err()
            || headers.set(READ_AT, &at.to_string()).is_err()
        {
            return;
        }
        if let Ok(resp) = Response::ok(body) {
            let _ = Cache::default()
                .put(url.as_str(), resp.with_headers(headers))
                .await;
        }
    });
}
