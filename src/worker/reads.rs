//! Public reads that stay cheap under a flood: once a site and room is read more than
//! [`FLOOD_READS`](crate::api::copies::FLOOD_READS) times in a second, `/v1/count` (and the
//! badge, which reads it) is answered from a copy at most [`FRESH_MS`] old, renewed ahead by one
//! read at a time ([`crate::api::copies`]), so a flood of reads costs the site's object about
//! one read a second per site and room, while an ordinary reader reads the object itself and
//! sees its own writes at once. The copies:
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

use worker::{Cache, Headers, Response};

use super::Edge;
use crate::api::copies::{Copies, Read, FRESH_MS};
use crate::api::{ApiError, CountQuery, SiteCall};

/// The header an edge-cache copy keeps the time of its object read in (ms since the epoch).
const READ_AT: &str = "Herenow-Read-At";

thread_local! {
    /// Site and room -> its reads and its last answer, in this isolate.
    static COPIES: RefCell<Copies> = RefCell::new(Copies::default());
}

/// The JSON of `GET /v1/count` for `q`: the object's answer, or in a flood a fresh copy.
pub async fn count(edge: &Edge<'_>, q: CountQuery) -> Result<String, ApiError> {
    let key = format!("{}\n{}", q.site, q.room.as_deref().unwrap_or(""));
    let now = worker::js_sys::Date::now() as u64;
    let (flood, refresh) = match COPIES.with_borrow_mut(|c| c.read(&key, now)) {
        Read::Copy(body) => return Ok(body),
        Read::Object { flood, refresh } => (flood, refresh),
    };
    let url = cache_url(&q);
    if flood && !refresh {
        if let Some((at, body)) = from_edge_cache(&url, now).await {
            COPIES.with_borrow_mut(|c| c.keep(&key, at, body.clone()));
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
    COPIES.with_borrow_mut(|c| c.keep(&key, now, body.clone()));
    if flood {
        to_edge_cache(edge, url, now, body.clone());
    }
    Ok(body)
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
