//! The checks a request passes before it reaches a site's object: the site and its origins,
//! bots, entity tokens and the rate limit.

use super::client_headers::ClientHeaders;
use super::Edge;
use crate::api::ApiError;
use crate::bots::is_bot;
use crate::config::SiteConfig;
use crate::token::{self, Claims, Key, TokenError};

impl Edge<'_> {
    /// The site's config, or 403 `unknown_site` / `forbidden_origin`.
    pub fn site(&self, site: &str) -> Result<&SiteConfig, ApiError> {
        // only configured site keys are logged: any other is the client's text
        if self.sites.is_configured(site) {
            self.site_named.replace(Some(site.to_owned()));
        }
        self.sites.check(site, self.origin)
    }

    /// 403 `bot` for an obvious bot's User-Agent. Headless browsers that say so are bots
    /// unless `BLOCK_HEADLESS=false` (a site's own end-to-end tests).
    pub fn not_a_bot(&self, headers: &ClientHeaders) -> Result<(), ApiError> {
        let ua = headers.get("User-Agent");
        if is_bot(ua.as_deref(), self.block_headless) {
            return Err(ApiError::bot());
        }
        Ok(())
    }

    /// The secrets that sign a site's tokens, newest first, by name: 403 `entities_disabled`
    /// when the site names none, or none of those it names is set. A listed secret that is not
    /// set is logged and skipped (a rotation half done must not refuse the other's tokens).
    pub fn secrets(&self, site: &SiteConfig) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
        let keys = crate::http::site_keys(self.env, site);
        if keys.is_empty() {
            return Err(ApiError::entities_disabled());
        }
        Ok(keys)
    }

    /// The claims of a token signed with one of `secrets`, or 401 `bad_token`.
    pub fn verify(
        &self,
        token: Option<&str>,
        secrets: &[(String, Vec<u8>)],
    ) -> Result<Claims, ApiError> {
        let token = token.ok_or(TokenError::Missing)?;
        let keys: Vec<Key<'_>> = secrets
            .iter()
            .map(|(name, secret)| Key { name, secret })
            .collect();
        Ok(token::verify(
            token,
            &keys,
            worker::js_sys::Date::now() as u64,
        )?)
    }

    /// For a site that keeps its stats private: a stats token in `Authorization: Bearer`, or
    /// 401 `bad_token`. Public stats pass.
    pub fn stats_allowed(
        &self,
        headers: &ClientHeaders,
        cfg: &SiteConfig,
        site: &str,
    ) -> Result<(), ApiError> {
        if !cfg.private_stats {
            return Ok(());
        }
        let secrets = self
            .secrets(cfg)
            .map_err(|_| ApiError::bad_token("A stats token is required."))?;
        let authorization = headers.get("Authorization");
        let claims = self.verify(
            crate::api::headers::bearer(authorization.as_deref()),
            &secrets,
        )?;
        token::check_stats(&claims, site)?;
        Ok(())
    }

    /// The `PING_LIMITER` binding, keyed by the kind of request (pings, socket upgrades, the
    /// private reads), the client address (an IPv6 address by its /64) and the site. Without
    /// the binding (or if it fails) requests pass: a limiter outage must not take presence down.
    /// Called below workers-rs (`raw`): its `RateLimiter` checks the binding's type by name and
    /// converts the options and the outcome with serde, on every ping.
    pub async fn rate_limit(&self, kind: &str, site: &str) -> Result<(), ApiError> {
        let Some(asked) = self.ask_limiter(kind, site) else {
            return Ok(());
        };
        let outcome = worker::wasm_bindgen_futures::JsFuture::from(asked).await;
        limited(outcome.ok())
    }

    /// The limiter's `limit()` promise for this request; `None` without the binding.
    pub fn ask_limiter(&self, kind: &str, site: &str) -> Option<worker::js_sys::Promise> {
        raw::limit(self.env, || format!("{kind}|{}|{site}", self.address))
    }
}

/// The limiter's outcome (`None`: it failed): 429 `rate_limited` when it says so.
pub fn limited(outcome: Option<wasm_bindgen::JsValue>) -> Result<(), ApiError> {
    let success = outcome.and_then(|o| {
        worker::js_sys::Reflect::get(&o, &"success".into())
            .ok()?
            .as_bool()
    });
    match success {
        Some(false) => Err(ApiError::rate_limited()),
        _ => Ok(()),
    }
}

mod raw {
    use std::cell::Cell;

    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;
    use worker::js_sys::Promise;

    #[wasm_bindgen(module = "/src/runtime.js")]
    extern "C" {
        #[wasm_bindgen(js_name = hasLimiter)]
        fn has_limiter(env: &worker::Env) -> bool;
        #[wasm_bindgen(catch, js_name = askLimiter)]
        fn ask_limiter(env: &worker::Env, key: &str) -> Result<Promise, JsValue>;
    }

    thread_local! {
        /// Whether the Worker has the binding, looked up once per isolate: bindings are fixed
        /// for a deployment (a changed binding is a new deployment, in new isolates).
        static BOUND: Cell<Option<bool>> = const { Cell::new(None) };
    }

    /// The `PING_LIMITER` binding's answer for `key` (`{ success }`); `None` without the
    /// binding (the key is then not made) or when it fails.
    pub fn limit(env: &worker::Env, key: impl FnOnce() -> String) -> Option<Promise> {
        let bound = BOUND.get().unwrap_or_else(|| {
            let bound = has_limiter(env);
            BOUND.set(Some(bound));
            bound
        });
        if !bound {
            return None;
        }
        ask_limiter(env, &key()).ok()
    }
}
