//! Sending webhooks: the site's URL and signing secret, and one signed POST per try. The
//! queue, its order and its retry policy are the core's (`presence/webhooks.rs`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::config::Sites;
use crate::log::{Line, Problem};
use crate::presence::{Delivery, Outcome, WebhookEvents};

/// How long one try may take before it counts as failed.
const TRY_TIMEOUT_MS: u32 = 10_000;

#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub url: String,
    pub events: WebhookEvents,
    /// The first of the site's secrets (the newest): it signs every event. `None` while that
    /// secret is not set: events are then queued and held, not sent unsigned nor dropped.
    secret: Option<Vec<u8>>,
}

impl WebhookTarget {
    /// The webhook of `site` from `SITES`, if it has one (with its first secret, if set).
    pub fn for_site(env: &Env, site: &str) -> Option<WebhookTarget> {
        let raw = env.var("SITES").ok()?.to_string();
        let sites = Sites::parse(&raw).ok()?;
        let cfg = sites.get(site)?;
        let hook = cfg.webhook.as_ref()?;
        let name = cfg.secret_env.first()?;
        let secret = env
            .secret(name)
            .map(|s| s.to_string())
            .or_else(|_| env.var(name).map(|v| v.to_string()))
            .ok()
            .filter(|s| !s.is_empty());
        if secret.is_none() {
            let line = Line::Error(Problem::Site {
                message: "webhook secret not set: events are queued and held until it is",
                site,
                secret_env: name,
            });
            worker::console_error!("{}", line.text());
        }
        Some(WebhookTarget {
            url: hook.url.clone(),
            events: hook.events(),
            secret: secret.map(String::into_bytes),
        })
    }

    /// Whether events can be signed (and so sent) now.
    pub fn can_sign(&self) -> bool {
        self.secret.is_some()
    }

    /// `Herenow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
    fn signature(&self, unix_seconds: u64, body: &str) -> Option<String> {
        Some(signature(self.secret.as_deref()?, unix_seconds, body))
    }

    /// One try: a 2xx answer within the timeout is delivered; anything else failed (a try that
    /// takes longer is aborted). Made in one runtime call (`postWebhook`, src/runtime.js).
    pub async fn post(&self, d: &Delivery) -> Outcome {
        let t = super::runtime::now() / 1000;
        let Some(sig) = self.signature(t, &d.body) else {
            return Outcome::Failed;
        };
        let sent = raw::post_webhook(&self.url, &d.body, &sig, TRY_TIMEOUT_MS);
        match JsFuture::from(sent).await {
            Ok(ok) if ok.as_bool() == Some(true) => Outcome::Delivered,
            _ => Outcome::Failed,
        }
    }
}

mod raw {
    use wasm_bindgen::prelude::wasm_bindgen;
    use worker::js_sys::Promise;

    #[wasm_bindgen(module = "/src/runtime.js")]
    extern "C" {
        /// A promise of whether the signed POST was answered 2xx within `timeout_ms`.
        #[wasm_bindgen(js_name = postWebhook)]
        pub fn post_webhook(url: &str, body: &str, signature: &str, timeout_ms: u32) -> Promise;
    }
}

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`, as `t=..,v1=..`.
pub fn signature(secret: &[u8], unix_seconds: u64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_seconds},v1={hex}")
}
