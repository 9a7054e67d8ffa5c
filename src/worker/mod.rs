//! The Worker: the thin edge in front of the sites' objects. It routes `/v1/*` (one function
//! per route in `routes.rs`), validates every request with [`crate::api`], applies the origin,
//! bot, token and rate checks (`guards.rs`), and hands the object one typed [`SiteCall`].
//! Everything else is the static assets in `public/`.

mod chain;
mod client_headers;
mod guards;
mod reads;
mod routes;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{event, web_sys, Context, Env, Method, Result};

use client_headers::ClientHeaders;

use crate::api::routes::{self as table, Op};
use crate::api::{Allow, ApiError, Query, SiteCall};
use crate::config::{Sites, DEFAULT_SITES};
use crate::http::{self, ObjectCall};
use crate::log::{Line, Problem, Refusal};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The Worker's `fetch`, exported as `#[event(fetch)]` would, but by hand: the usual ping is
/// answered by a chain of the runtime's promises (`chain.rs` says why), everything else by
/// [`fetch_async`].
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn fetch(
    req: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> worker::js_sys::Promise {
    let (req, env, ctx) = match chain::ping(req, env, Context::new(ctx)) {
        Ok(answer) => return answer,
        Err(back) => back,
    };
    worker::wasm_bindgen_futures::future_to_promise(async move {
        match fetch_async(req, env, ctx).await {
            Ok(resp) => Ok(resp.into()),
            // as `#[event(fetch)]` answers its handler's errors
            Err(e) => {
                worker::console_error!("{e}");
                let resp = http::error(&ApiError::internal(), None).map_err(JsValue::from)?;
                Ok(web_sys::Response::from(resp).into())
            }
        }
    })
}

/// The request and the answer are the runtime's own (`web_sys`), not workers-rs's
/// `Request`/`Response`: making a `worker::Request` reads the request's `cf` object and URL
/// into Rust on every request, and a `worker::Response` is rebuilt on its way out; on the hot
/// path of a ping neither is needed (the headers are read through [`ClientHeaders`]: the five
/// a ping reads in one call into JS, any other when asked). Routes that need a
/// `worker::Request` make one.
async fn fetch_async(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let headers = ClientHeaders::read(req.headers());
    let origin = headers.get("Origin");
    let url = req.url();
    let path = crate::api::query::path_of(&url).to_owned();
    if !(path == "/v1" || path.starts_with("/v1/")) {
        return outside_the_api(req, &env, &path).await;
    }
    // a badge is an <img>: its refusals are images too (read before the request moves on); the
    // query is cut from the raw URL, as in Edge::new: `Request::url()` (the url crate) would
    // link its IDNA and Unicode normalization tables (~105 KB of data)
    let method = Method::from(req.method());
    let get = matches!(method, Method::Get | Method::Head);
    let badge_query = (get && table::find(&path).is_some_and(|r| r.op == Op::Badge))
        .then(|| crate::api::query::query_of(&url).to_owned());
    let (answer, site) = match Edge::new(&url, method, &headers, &env, &ctx, origin.as_deref()) {
        Ok(edge) => {
            let answer = route(req, &headers, &edge, &path).await;
            (answer, edge.site_named.take())
        }
        Err(e) => (Err(e), None),
    };
    match answer {
        Ok(resp) => Ok(resp),
        // Errors carry the CORS header too, so a page can read why it was refused.
        Err(e) => {
            log_refusal(&e, &path, site.as_deref());
            match badge_query {
                Some(query) => Ok(routes::badge_refusal(&query, &e)?.into()),
                None => Ok(http::error(&e, origin.as_deref())?.into()),
            }
        }
    }
}

/// The demo pages (wrangler.toml sends them to the Worker first): served only where the
/// `DEMO_PAGES` var is `"true"` (`npm run dev`), so a production deploy serves none of them.
const DEMO_PAGES: [&str; 11] = [
    "/",
    "/index.html",
    "/chat",
    "/chat.html",
    "/agent",
    "/agent.html",
    "/team",
    "/team.html",
    "/product",
    "/product.html",
    "/avatars/",
];

/// A path outside `/v1`: a demo page where they are on, else nothing (every other file of
/// `public/` is served by the assets before the Worker runs).
async fn outside_the_api(
    req: web_sys::Request,
    env: &Env,
    path: &str,
) -> Result<web_sys::Response> {
    let demo = DEMO_PAGES
        .iter()
        .any(|p| path == *p || (p.ends_with('/') && p.len() > 1 && path.starts_with(p)));
    let on = env
        .var("DEMO_PAGES")
        .is_ok_and(|v| v.to_string().trim() == "true");
    if demo && on {
        return http::asset(env, &req).await;
    }
    Ok(http::error(&ApiError::not_found(), None)?.into())
}

/// One function per route (the table in `api/routes.rs`); the preflight and the method check
/// come first.
async fn route(
    req: web_sys::Request,
    headers: &ClientHeaders,
    edge: &Edge<'_>,
    path: &str,
) -> std::result::Result<web_sys::Response, ApiError> {
    if edge.method == Method::Options {
        return routes::preflight(edge);
    }
    #[cfg(feature = "test-hooks")]
    if path.starts_with("/v1/_test/") && edge.flag("HERENOW_TEST_HOOKS") {
        return routes::test_hook(edge, path).await;
    }
    let Some(route) = table::find(path) else {
        return Err(ApiError::not_found());
    };
    edge.allow(route.allow)?;
    match route.op {
        Op::Ping => routes::ping(req, headers, edge).await,
        Op::Count => routes::count(edge).await,
        Op::Rooms => routes::rooms(headers, edge).await,
        Op::History => routes::history(headers, edge).await,
        Op::Status => routes::status(headers, edge).await,
        Op::Members => routes::members(headers, edge).await,
        Op::Live => routes::live(headers, edge).await,
        Op::Badge => routes::badge(edge).await,
        Op::OpenApi => routes::openapi(edge).await,
    }
}

/// What the Worker reads of its vars, once per isolate: vars are fixed for a deployment (a
/// changed var is a new deployment, in new isolates), and each read crosses into JS, checks the
/// binding's type and copies the text into Rust (the whole `SITES` JSON, on every request).
struct Vars {
    sites: Rc<Sites>,
    /// Headless browsers that say so are bots, unless `BLOCK_HEADLESS` is `false`, `0` or `no`.
    block_headless: bool,
}

thread_local! {
    static VARS: RefCell<Option<Rc<Vars>>> = const { RefCell::new(None) };
}

/// The vars; a broken `SITES` var is logged and answered as a server error (and read again on
/// the next request).
fn vars(env: &Env) -> std::result::Result<Rc<Vars>, ApiError> {
    if let Some(vars) = VARS.with_borrow(|v| v.clone()) {
        return Ok(vars);
    }
    let raw = env
        .var("SITES")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| DEFAULT_SITES.to_owned());
    let sites = Rc::new(Sites::parse(&raw).map_err(|e| {
        worker::console_error!("{e}");
        ApiError::internal()
    })?);
    // once per isolate: each entry that takes its site down, and why
    for why in sites.broken() {
        worker::console_error!("{why}");
    }
    let block_headless = !env
        .var("BLOCK_HEADLESS")
        .is_ok_and(|v| matches!(v.to_string().trim(), "false" | "0" | "no"));
    let vars = Rc::new(Vars {
        sites,
        block_headless,
    });
    VARS.set(Some(vars.clone()));
    Ok(vars)
}

/// One JSON line per refused request or error, for Workers Logs, `wrangler tail` and Logpush:
/// its class (the contract's code and status), the route (a path the API has, else `/v1/*`: a
/// path is the client's text, and logs carry no personal data) and the site.
fn log_refusal(e: &ApiError, path: &str, site: Option<&str>) {
    let route = table::find(path).map_or("/v1/*", |r| r.path);
    let refusal = Refusal {
        code: e.code.as_str(),
        status: e.status(),
        route,
        site,
    };
    // a full site (503) is a refusal, not our fault, but one its owner must see: a warning
    if e.code == crate::api::ErrorCode::Internal {
        worker::console_error!("{}", Line::Error(Problem::Request(refusal)).text());
    } else if e.status() >= 500 {
        worker::console_warn!("{}", Line::Refused(refusal).text());
    } else {
        worker::console_log!("{}", Line::Refused(refusal).text());
    }
}

/// A `worker::Error` on a request path is ours, not the client's: logged, answered 500.
impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        let message = e.to_string();
        worker::console_error!("{}", Line::Internal { message: &message }.text());
        ApiError::internal()
    }
}

/// What every route reads: the environment, the configured sites, the method, the decoded
/// query and the page's `Origin`.
pub(crate) struct Edge<'a> {
    env: &'a Env,
    ctx: &'a Context,
    sites: Rc<Sites>,
    /// Whether headless browsers that say so are refused as bots.
    block_headless: bool,
    /// The last site a check named (for the log line of a refusal).
    site_named: RefCell<Option<String>>,
    method: Method,
    query: Query,
    origin: Option<&'a str>,
    /// The client address (`CF-Connecting-IP`, an IPv6 address by its /64).
    address: String,
}

impl<'a> Edge<'a> {
    fn new(
        url: &str,
        method: Method,
        headers: &ClientHeaders,
        env: &'a Env,
        ctx: &'a Context,
        origin: Option<&'a str>,
    ) -> std::result::Result<Self, ApiError> {
        let vars = vars(env)?;
        // the raw URL: parsing it with the url crate would link its Unicode tables (~160 KB)
        let query = Query::parse(crate::api::query::query_of(url))?;
        let ip = headers.get("CF-Connecting-IP");
        let address = crate::api::headers::client_address(ip.as_deref());
        Ok(Edge {
            env,
            ctx,
            sites: vars.sites.clone(),
            block_headless: vars.block_headless,
            site_named: RefCell::new(None),
            method,
            query,
            origin,
            address,
        })
    }

    /// 405 unless the request's method is one the route answers (`HEAD` goes with `GET`).
    fn allow(&self, allow: Allow) -> std::result::Result<(), ApiError> {
        let ok = match allow {
            Allow::Get => matches!(self.method, Method::Get | Method::Head),
            Allow::Post => self.method == Method::Post,
            Allow::Upgrade => self.method == Method::Get,
        };
        ok.then_some(()).ok_or(ApiError::method_not_allowed(allow))
    }

    /// Whether a boolean var is set (`true`, `1` or `yes`).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    fn flag(&self, name: &str) -> bool {
        self.env
            .var(name)
            .is_ok_and(|v| matches!(v.to_string().trim(), "true" | "1" | "yes"))
    }

    /// The site's object, with `call` in its header; `upgrade` forwards a WebSocket upgrade.
    async fn call_object(
        &self,
        site: &str,
        call: &SiteCall,
        upgrade: bool,
    ) -> std::result::Result<web_sys::Response, ApiError> {
        let shard = self.shard_for(site, call);
        self.call_shard(site, shard, ObjectCall::Site(call), upgrade)
            .await
    }

    /// Which of the site's objects a call goes to: every session and socket of a client
    /// address to one object (by a hash of the address), so that the address's ceilings hold
    /// for the site as for one object and its visitors and addresses add up exactly; sockets
    /// watching entities or members, and everything else, to the coordinator.
    fn shard_for(&self, site: &str, call: &SiteCall) -> u32 {
        use crate::presence::shards::place;
        let k = self.shards_of(site);
        if k == 1 {
            return 0;
        }
        match call {
            SiteCall::Ping(_) => place(k, &self.address),
            SiteCall::Live(q) if q.watch.is_empty() && q.members.is_none() => {
                place(k, &self.address)
            }
            _ => 0,
        }
    }

    /// Object `shard` of the site (see `presence/shards/`).
    async fn call_shard(
        &self,
        site: &str,
        shard: u32,
        call: ObjectCall<'_>,
        upgrade: bool,
    ) -> std::result::Result<web_sys::Response, ApiError> {
        let shards = self.shards_of(site);
        Ok(http::call_object(self.env, site, (shard, shards), call, upgrade).await?)
    }

    /// How many objects hold the site.
    fn shards_of(&self, site: &str) -> u32 {
        self.sites.get(site).map_or(1, |s| s.shards.clamp(1, 64))
    }

    /// Calls the site's object and answers its JSON answer as it is (the object sets the public
    /// headers), or the contract error it holds (such as `site_full`); anything else is a
    /// server error.
    async fn relay(
        &self,
        site: &str,
        call: SiteCall,
    ) -> std::result::Result<web_sys::Response, ApiError> {
        self.relay_to(site, self.shard_for(site, &call), &call)
            .await
    }

    /// [`Self::relay`] to object `shard` of the site.
    async fn relay_to(
        &self,
        site: &str,
        shard: u32,
        call: &SiteCall,
    ) -> std::result::Result<web_sys::Response, ApiError> {
        let public = ObjectCall::Public(call, self.origin);
        let resp = self.call_shard(site, shard, public, false).await?;
        if resp.status() == 200 {
            return Ok(resp); // with the public headers, from the object
        }
        Err(object_refusal(resp).await)
    }
}

/// An object's answer other than success, as the error it holds (`site_full`,
/// `too_many_sockets`, ...), so that it is answered and logged as the Worker's own refusals
/// are; anything else an object answers is a server error.
pub(crate) async fn object_refusal(resp: web_sys::Response) -> ApiError {
    let status = resp.status();
    refusal_of(status, &http::text_of(&resp).await)
}

/// [`object_refusal`] of an answer's status and body.
fn refusal_of(status: u16, text: &str) -> ApiError {
    match ApiError::from_body(text) {
        Some(e) if e.status() == status && status != 500 => e,
        _ => {
            worker::console_error!("object answered {status}: {text}");
            ApiError::internal()
        }
    }
}
