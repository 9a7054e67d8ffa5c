//! Public reads that stay cheap under a flood: once a site and room is read more than
//! [`FLOOD_READS`] times in a second, `/v1/count` (and the badge, which reads it) is answered
//! from a copy at most [`FRESH_MS`] old, so a flood of reads costs the site's object about one
//! read per second per site and room (and a few more while a new copy is on its way), while an
//! ordinary reader reads the object itself and sees its own writes at once. The copies:
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

use worker::{Cache, Headers, Response};

use super::Edge;
use crate::api::{ApiError, CountQuery, SiteCall};

/// How old a copy of a count may be when it answers.
pub const FRESH_MS: u64 = 1_000;
/// Reads of one site and room in a second, in one isolate, past which copies answer.
pub const FLOOD_READS: u32 = 50;
/// Copies kept in an isolate at most (old ones are dropped first).
const MAX_COPIES: usize = 4_096;

/// What an isolate knows of one site and room's reads.
#[derive(Default)]
struct Copy {
    /// The reads of the current second, and when it began; the reads of the second before.
    second: u64,
    reads: u32,
    before: u32,
    /// The last answer of the object, and when it was read.
    at: u64,
    body: Option<String>,
}

thread_local! {
    /// Site and room -> its reads and its last answer.
    static COPIES: RefCell<HashMap<String, Copy>> = RefCell::new(HashMap::new());
}

/// The JSON of `GET /v1/count` for `q`: the object's answer, or in a flood a fresh copy.
pub async fn count(edge: &Edge<'_>, q: CountQuery) -> Result<String, ApiError> {
    let key = format!("{}\n{}", q.site, q.room.as_deref().unwrap_or(""));
    let now = worker::Date::now().as_millis();
    let (flood, copy) = COPIES.with_borrow_mut(|c| read(c, &key, now));
    if let Some(body) = copy {
        return Ok(body);
    }
    let url = cache_url(&q);
    if flood {
        if let Some(body) = from_edge_cache(&url).await {
            keep(key, now, body.clone());
            return Ok(body);
        }
    }
    let resp = edge
        .call_object(&q.site.clone(), &SiteCall::Count(q), false)
        .await?;
    if resp.status_code() != 200 {
        return Err(super::object_refusal(resp).await);
    }
    let mut resp = resp;
    let body = resp.text().await?;
    keep(key, now, body.clone());
    if flood {
        to_edge_cache(edge, url, body.clone());
    }
    Ok(body)
}

/// One read of `key` at `now`: whether its site and room is flooded, and a copy to answer
/// with when it is and the copy is fresh.
fn read(copies: &mut HashMap<String, Copy>, key: &str, now: u64) -> (bool, Option<String>) {
    if copies.len() >= MAX_COPIES && !copies.contains_key(key) {
        copies.retain(|_, c| now < c.second + FRESH_MS || now < c.at + FRESH_MS);
    }
    if copies.len() >= MAX_COPIES && !copies.contains_key(key) {
        return (false, None);
    }
    let c = copies.entry(key.to_owned()).or_default();
    if now >= c.second + 1_000 {
        // the second before counts only if it was the one just ended
        c.before = if now < c.second + 2_000 { c.reads } else { 0 };
        c.second = now;
        c.reads = 0;
    }
    c.reads += 1;
    // a flood lasts: the second after one that was flooded is answered from copies at once
    let flood = c.reads.max(c.before) > FLOOD_READS;
    let fresh = now < c.at + FRESH_MS;
    (flood, c.body.clone().filter(|_| flood && fresh))
}

fn keep(key: String, now: u64, body: String) {
    COPIES.with_borrow_mut(|c| {
        if let Some(copy) = c.get_mut(&key) {
            copy.at = now;
            copy.body = Some(body);
        }
    });
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

async fn from_edge_cache(url: &str) -> Option<String> {
    let mut resp = Cache::default().get(url, true).await.ok()??;
    resp.text().await.ok()
}

/// Keeps the answer in the edge cache for [`FRESH_MS`], after the answer went out.
fn to_edge_cache(edge: &Edge<'_>, url: String, body: String) {
    edge.ctx.wait_until(async move {
        let headers = Headers::new();
        let max_age = format!("public, max-age={}", FRESH_MS / 1000);
        if headers.set("Cache-Control", &max_age).is_err() {
            return;
        }
        if let Ok(resp) = Response::ok(body) {
            let _ = Cache::default()
                .put(url.as_str(), resp.with_headers(headers))
                .await;
        }
    });
}
