//! The Worker: routes `/v1/*`, validates every request, applies the origin, bot and rate
//! checks, and forwards only validated input to the site's Durable Object. Everything else is
//! the static assets in `public/`.

use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, Result};

use crate::api::{
    parse_count, parse_live, parse_ping, parse_rooms, parse_status, ping_content_type_ok, ApiError,
    Query, MAX_PING_BYTES,
};
use crate::bots::is_bot;
use crate::config::{SiteConfig, Sites, DEFAULT_SITES};
use crate::token;

/// The longest `Origin` echoed in `Access-Control-Allow-Origin`.
const MAX_ORIGIN_ECHO: usize = 255;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    if !(path == "/v1" || path.starts_with("/v1/")) {
        // Assets are served before the Worker runs; what reaches here matched none.
        return json_error(&ApiError::not_found(), None);
    }
    let origin = req.headers().get("Origin").ok().flatten();
    match route(req, &env, &ctx, &path, origin.as_deref()).await {
        Ok(resp) => Ok(resp),
        // Errors carry the CORS header too, so a page can read why it was refused.
        Err(e) => json_error(&e, origin.as_deref()),
    }
}

/// The configured sites; a broken `SITES` var is logged and answered as a server error.
fn sites(env: &Env) -> std::result::Result<Sites, ApiError> {
    let raw = env
        .var("SITES")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| DEFAULT_SITES.to_owned());
    Sites::parse(&raw).map_err(|e| {
        worker::console_error!("{e}");
        ApiError::internal()
    })
}

fn var_flag(env: &Env, name: &str) -> bool {
    env.var(name)
        .map(|v| matches!(v.to_string().trim(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

async fn route(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    path: &str,
    origin: Option<&str>,
) -> std::result::Result<Response, ApiError> {
    let sites = sites(env)?;
    let method = req.method();
    let query = Query::parse(
        req.url()
            .map_err(|_| ApiError::bad_request("Bad URL."))?
            .query()
            .unwrap_or(""),
    )?;

    if method == Method::Options {
        return preflight(&sites, &query, origin);
    }
    let internal = |e: worker::Error| {
        worker::console_error!("{path}: {e}");
        ApiError::internal()
    };
    match path {
        "/v1/ping" => {
            if method != Method::Post {
                return Err(ApiError::method_not_allowed("POST"));
            }
            let too_long = req
                .headers()
                .get("Content-Length")
                .ok()
                .flatten()
                .and_then(|l| l.trim().parse::<u64>().ok())
                .is_some_and(|l| l > MAX_PING_BYTES as u64);
            if too_long {
                return Err(ApiError::too_large());
            }
            let ct = req.headers().get("Content-Type").ok().flatten();
            let body = read_capped(&mut req, MAX_PING_BYTES).await?;
            if !ping_content_type_ok(ct.as_deref()) {
                return Err(ApiError::bad_request(
                    "Send the ping as application/json or text/plain.",
                ));
            }
            let ping = parse_ping(&body)?;
            let site = sites.check(&ping.site, origin)?;
            let secret = ping
                .entity
                .as_ref()
                .map(|_| site_secret(env, site))
                .transpose()?;
            check_bot(&req, env)?;
            if let (Some(entity), Some(secret)) = (&ping.entity, &secret) {
                let claims = verify_token(ping.token.as_deref(), secret)?;
                token::check_track(&claims, &ping.site, entity)?;
            }
            rate_limit(&req, env, "ping", &ping.site).await?;
            let body = serde_json::to_string(&ping).map_err(|_| ApiError::internal())?;
            let resp = call_object(env, &ping.site, "/ping", Method::Post, Some(body))
                .await
                .map_err(internal)?;
            relay_json(resp, origin).await.map_err(internal)
        }
        "/v1/count" => {
            if !matches!(method, Method::Get | Method::Head) {
                return Err(ApiError::method_not_allowed("GET"));
            }
            let q = parse_count(&query)?;
            sites.check(&q.site, origin)?;
            let mut params = vec![("site", q.site.as_str())];
            if let Some(r) = &q.room {
                params.push(("room", r));
            }
            let resp = call_object(
                env,
                &q.site,
                &object_path("/count", &params),
                Method::Get,
                None,
            )
            .await
            .map_err(internal)?;
            relay_json(resp, origin).await.map_err(internal)
        }
        "/v1/rooms" => {
            if !matches!(method, Method::Get | Method::Head) {
                return Err(ApiError::method_not_allowed("GET"));
            }
            let q = parse_rooms(&query)?;
            sites.check(&q.site, origin)?;
            let limit = q.limit.to_string();
            let params = [("site", q.site.as_str()), ("limit", limit.as_str())];
            let resp = call_object(
                env,
                &q.site,
                &object_path("/rooms", &params),
                Method::Get,
                None,
            )
            .await
            .map_err(internal)?;
            relay_json(resp, origin).await.map_err(internal)
        }
        "/v1/status" => {
            if !matches!(method, Method::Get | Method::Head) {
                return Err(ApiError::method_not_allowed("GET"));
            }
            let q = parse_status(&query)?;
            let site = sites.check(&q.site, origin)?;
            let secret = site_secret(env, site)?;
            let bearer = req
                .headers()
                .get("Authorization")
                .ok()
                .flatten()
                .and_then(|h| {
                    let (scheme, rest) = h.trim().split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| rest.trim().to_owned())
                });
            let claims = verify_token(bearer.as_deref(), &secret)?;
            token::check_watch(&claims, &q.site)?;
            token::check_watchable(&claims, &q.entities)?;
            let list = q.entities.join(",");
            let params = [("site", q.site.as_str()), ("entity", list.as_str())];
            let resp = call_object(
                env,
                &q.site,
                &object_path("/status", &params),
                Method::Get,
                None,
            )
            .await
            .map_err(internal)?;
            relay_json(resp, origin).await.map_err(internal)
        }
        "/v1/live" => {
            if method != Method::Get {
                return Err(ApiError::method_not_allowed("GET"));
            }
            let upgrade = req
                .headers()
                .get("Upgrade")
                .ok()
                .flatten()
                .unwrap_or_default();
            if !upgrade.eq_ignore_ascii_case("websocket") {
                return Err(ApiError::upgrade_required());
            }
            let q = parse_live(&query)?;
            let site = sites.check(&q.site, origin)?;
            let needs_secret = q.entity.is_some() || !q.watch.is_empty();
            let secret = needs_secret.then(|| site_secret(env, site)).transpose()?;
            if q.session.is_some() {
                check_bot(&req, env)?;
            }
            if let Some(secret) = &secret {
                let claims = verify_token(q.token.as_deref(), secret)?;
                match &q.entity {
                    Some(entity) => token::check_track(&claims, &q.site, entity)?,
                    None => {
                        token::check_watch(&claims, &q.site)?;
                        token::check_watchable(&claims, &q.watch)?;
                    }
                }
            }
            rate_limit(&req, env, "live", &q.site).await?;
            let watch = q.watch.join(",");
            let mut params = vec![("site", q.site.as_str())];
            for (k, v) in [
                ("room", &q.room),
                ("session", &q.session),
                ("visitor", &q.visitor),
                ("entity", &q.entity),
            ] {
                if let Some(v) = v {
                    params.push((k, v));
                }
            }
            if !watch.is_empty() {
                params.push(("watch", &watch));
            }
            let headers = Headers::new();
            headers.set("Upgrade", "websocket").map_err(internal)?;
            let mut init = RequestInit::new();
            init.with_method(Method::Get).with_headers(headers);
            let url = format!("https://presence{}", object_path("/live", &params));
            let inner = Request::new_with_init(&url, &init).map_err(internal)?;
            stub(env, &q.site)
                .map_err(internal)?
                .fetch_with_request(inner)
                .await
                .map_err(internal)
        }
        "/v1/_test/panic" | "/v1/_test/fail-alarm" if var_flag(env, "HERENOW_TEST_HOOKS") => {
            let site = query.get("site").unwrap_or_default().to_owned();
            sites.check(&site, origin)?;
            let hook = path.trim_start_matches("/v1/_test").to_owned();
            // Answer first: a panic resets the whole Wasm instance, this request included.
            let env = env.clone();
            let object_path = format!("/test{hook}");
            ctx.wait_until(async move {
                let _ = call_object(&env, &site, &object_path, Method::Post, None).await;
            });
            let body = serde_json::json!({ "hook": hook }).to_string();
            with_headers(Response::ok(body).map_err(internal)?, 202, origin).map_err(internal)
        }
        "/v1/_test/memory" if var_flag(env, "HERENOW_TEST_HOOKS") => {
            let site = query.get("site").unwrap_or_default().to_owned();
            sites.check(&site, origin)?;
            let mut resp = call_object(env, &site, "/test/memory", Method::Get, None)
                .await
                .map_err(internal)?;
            let mut v: serde_json::Value = resp.json().await.map_err(internal)?;
            v["worker_wasm_bytes"] = serde_json::json!(crate::object::wasm_memory_bytes());
            with_headers(Response::ok(v.to_string()).map_err(internal)?, 200, origin)
                .map_err(internal)
        }
        _ => Err(ApiError::not_found()),
    }
}

/// Reads a request body, keeping no more than `max` bytes of it: past that, the rest is
/// drained without being kept (so the client gets its answer) and the answer is 413
/// `too_large`.
async fn read_capped(req: &mut Request, max: usize) -> std::result::Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let unreadable = |_| ApiError::bad_request("The body could not be read.");
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

/// `OPTIONS`: allowed when the origin may use the site named in the query, or (for
/// `/v1/ping`, whose site is in the body) any configured site.
fn preflight(
    sites: &Sites,
    query: &Query,
    origin: Option<&str>,
) -> std::result::Result<Response, ApiError> {
    let allowed = match query.get("site") {
        Some(site) => sites.check(site, origin).is_ok(),
        None => sites.any_allows(origin),
    };
    if !allowed {
        return Err(ApiError::forbidden_origin());
    }
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| ApiError::internal());
    if let Some(o) = origin.filter(|o| o.len() <= MAX_ORIGIN_ECHO) {
        set("Access-Control-Allow-Origin", o)?;
    }
    set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
    set(
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization",
    )?;
    set("Access-Control-Max-Age", "86400")?;
    set("Vary", "Origin")?;
    Ok(Response::empty()
        .map_err(|_| ApiError::internal())?
        .with_status(204)
        .with_headers(headers))
}

/// The secret that signs a site's entity tokens: 403 `entities_disabled` when the site names
/// none, or names one that is not set.
fn site_secret(env: &Env, site: &SiteConfig) -> std::result::Result<Vec<u8>, ApiError> {
    let name = site
        .secret_env
        .as_deref()
        .ok_or_else(ApiError::entities_disabled)?;
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .unwrap_or_default();
    if value.is_empty() {
        worker::console_error!("the secret {name} named by SITES is not set");
        return Err(ApiError::entities_disabled());
    }
    Ok(value.into_bytes())
}

fn verify_token(
    token: Option<&str>,
    secret: &[u8],
) -> std::result::Result<token::Claims, ApiError> {
    let token = token.ok_or_else(|| ApiError::bad_token("A token is required."))?;
    token::verify(token, secret, worker::Date::now().as_millis())
}

fn check_bot(req: &Request, env: &Env) -> std::result::Result<(), ApiError> {
    let ua = req.headers().get("User-Agent").ok().flatten();
    if is_bot(ua.as_deref(), var_flag(env, "BLOCK_HEADLESS")) {
        return Err(ApiError::bot());
    }
    Ok(())
}

/// The `PING_LIMITER` binding, keyed by client IP and site. Without the binding (or if it
/// fails) requests pass: a limiter outage must not take presence down.
async fn rate_limit(
    req: &Request,
    env: &Env,
    kind: &str,
    site: &str,
) -> std::result::Result<(), ApiError> {
    let Ok(limiter) = env.rate_limiter("PING_LIMITER") else {
        return Ok(());
    };
    let ip = req
        .headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".to_owned());
    match limiter.limit(format!("{kind}|{ip}|{site}")).await {
        Ok(outcome) if !outcome.success => Err(ApiError::rate_limited()),
        _ => Ok(()),
    }
}

fn stub(env: &Env, site: &str) -> Result<worker::Stub> {
    env.durable_object("PRESENCE")?
        .id_from_name(site)?
        .get_stub()
}

fn object_path(path: &str, params: &[(&str, &str)]) -> String {
    let query = worker::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}

async fn call_object(
    env: &Env,
    site: &str,
    path_and_query: &str,
    method: Method,
    body: Option<String>,
) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        init.with_headers(headers)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&b)));
    }
    let req = Request::new_with_init(&format!("https://presence{path_and_query}"), &init)?;
    stub(env, site)?.fetch_with_request(req).await
}

/// Re-sends the object's JSON answer (a success or a contract error such as `site_full`)
/// with the public headers; anything else from the object is a server error.
async fn relay_json(mut resp: Response, origin: Option<&str>) -> Result<Response> {
    let status = resp.status_code();
    let text = resp.text().await?;
    if status == 200 || (400..500).contains(&status) || status == 503 {
        return with_headers(Response::ok(text)?, status, origin);
    }
    worker::console_error!("object answered {status}: {text}");
    json_error(&ApiError::internal(), origin)
}

fn json_error(e: &ApiError, cors_origin: Option<&str>) -> Result<Response> {
    let resp = Response::ok(e.body())?;
    let resp = with_headers(resp, e.status, cors_origin)?;
    if e.status == 405 {
        let allow = if e.message.contains("POST") {
            "POST, OPTIONS"
        } else {
            "GET, HEAD, OPTIONS"
        };
        resp.headers().set("Allow", allow)?;
    }
    Ok(resp)
}

fn with_headers(resp: Response, status: u16, cors_origin: Option<&str>) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("Vary", "Origin")?;
    // An origin is a scheme, host and port; anything longer is not echoed back.
    if let Some(o) = cors_origin.filter(|o| o.len() <= MAX_ORIGIN_ECHO) {
        headers.set("Access-Control-Allow-Origin", o)?;
    }
    Ok(resp.with_status(status).with_headers(headers))
}
