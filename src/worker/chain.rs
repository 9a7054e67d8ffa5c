//! The usual ping (`POST /v1/ping` with its length declared within the cap) answered as a chain
//! of the runtime's own promises: the body, then the checks, then the rate limiter (where
//! bound), then the site's object, each step one callback. An `async` export runs the same
//! steps on `wasm-bindgen-futures`' executor, which costs every ping a `Promise` of its own, a
//! `queueMicrotask` per step and two closures per `await` (about a tenth of a heartbeat's
//! workerd CPU in a profile); a ping needs none of that. The steps are the `async` way's own
//! (`routes.rs`'s `declared_length` and `checked_ping`, `guards.rs`'s `limited`, `refusal_of`),
//! so the two ways cannot answer differently; every other request (and a ping whose body must
//! be streamed) takes the `async` way.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::js_sys::{ArrayBuffer, Promise, Uint8Array};
use worker::{web_sys, Context, Env, Method};

use super::client_headers::ClientHeaders;
use super::routes::{checked_ping, declared_length, unreadable};
use super::{guards::limited, log_refusal, refusal_of, Edge};
use crate::api::{ApiError, SiteCall};
use crate::http::{self, ObjectCall};

const PATH: &str = "/v1/ping";

#[wasm_bindgen]
extern "C" {
    /// A promise, for `then` with one callback for both outcomes (see [`then`]).
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_either(this: &Thenable, on_fulfilled: &JsValue, on_rejected: &JsValue) -> Promise;
}

/// `promise.then(f, f)`: `f` gets the value or the reason (each step tells them apart by type).
/// One callback for both, because a closure made for JS once is freed when it is called, and
/// the one of the two outcomes that never comes would otherwise be kept forever.
fn then(promise: &Promise, f: impl FnOnce(JsValue) -> JsValue + 'static) -> Promise {
    let f = Closure::once_into_js(f);
    promise.unchecked_ref::<Thenable>().then_either(&f, &f)
}

/// The chain's answer to `req`, if it is a usual ping; else the request back, for the `async`
/// way.
pub fn ping(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> Result<Promise, (web_sys::Request, Env, Context)> {
    let url = req.url();
    if req.method() != "POST" || crate::api::query::path_of(&url) != PATH {
        return Err((req, env, ctx));
    }
    let headers = ClientHeaders::read(req.headers());
    if !matches!(declared_length(&headers), Ok(Some(_))) {
        return Err((req, env, ctx));
    }
    let Ok(body) = req.array_buffer() else {
        return Err((req, env, ctx));
    };
    let origin = headers.get("Origin");
    let flight = Rc::new(Flight {
        env,
        ctx,
        headers,
        url,
        origin,
    });
    Ok(then(&body, move |body| {
        match body.dyn_ref::<ArrayBuffer>() {
            Some(body) => flight.after_body(&Uint8Array::new(body).to_vec()),
            None => flight.refuse(&unreadable(), None),
        }
    }))
}

/// What the steps of one ping share.
struct Flight {
    env: Env,
    ctx: Context,
    headers: ClientHeaders,
    url: String,
    origin: Option<String>,
}

impl Flight {
    /// The body read: the checks, then the limiter or the object.
    fn after_body(self: Rc<Self>, body: &[u8]) -> JsValue {
        let edge = match Edge::new(
            &self.url,
            Method::Post,
            &self.headers,
            &self.env,
            &self.ctx,
            self.origin.as_deref(),
        ) {
            Ok(edge) => edge,
            Err(e) => return self.refuse(&e, None),
        };
        let ping = match checked_ping(body, &self.headers, &edge) {
            Ok(ping) => ping,
            Err(e) => return self.refuse(&e, edge.site_named.take().as_deref()),
        };
        let site = ping.site.clone();
        let call = SiteCall::Ping(ping);
        let at = (edge.shard_for(&site, &call), edge.shards_of(&site));
        let asked = edge.ask_limiter("ping", &site);
        let sent = Sent {
            flight: self.clone(),
            site_named: edge.site_named.take(),
            site,
            call,
            at,
        };
        match asked {
            None => sent.send(),
            Some(asked) => then(&asked, move |outcome| match limited(Some(outcome)) {
                Ok(()) => sent.send(),
                Err(e) => sent.refuse(&e),
            })
            .into(),
        }
    }

    /// A refusal, answered and logged as the `async` way does (`fetch` in `mod.rs`).
    fn refuse(&self, e: &ApiError, site: Option<&str>) -> JsValue {
        log_refusal(e, PATH, site);
        match http::error(e, self.origin.as_deref()) {
            Ok(resp) => web_sys::Response::from(resp).into(),
            Err(err) => wasm_bindgen::throw_str(&err.to_string()),
        }
    }
}

/// A checked ping on its way to the site's object.
struct Sent {
    flight: Rc<Flight>,
    site_named: Option<String>,
    site: String,
    call: SiteCall,
    at: (u32, u32),
}

impl Sent {
    fn send(self) -> JsValue {
        let f = &self.flight;
        match http::object_promise(
            &f.env,
            &self.site,
            self.at,
            ObjectCall::Public(&self.call, f.origin.as_deref()),
            false,
        ) {
            Ok(answer) => then(&answer, move |resp| self.answered(resp)).into(),
            Err(e) => self.refuse(&e.into()),
        }
    }

    /// The object's answer: its JSON with the public headers on success, else the error it
    /// holds (its body read first); a failed call is a server error.
    fn answered(self, resp: JsValue) -> JsValue {
        let Some(resp) = resp.dyn_ref::<web_sys::Response>() else {
            return self.refuse(&worker::Error::from(resp).into());
        };
        let status = resp.status();
        if status == 200 {
            return resp.into(); // with the public headers, from the object
        }
        match resp.text() {
            Ok(text) => then(&text, move |text| {
                let text = text.as_string().unwrap_or_default();
                self.refuse(&refusal_of(status, &text))
            })
            .into(),
            Err(_) => self.refuse(&refusal_of(status, "")),
        }
    }

    fn refuse(&self, e: &ApiError) -> JsValue {
        self.flight.refuse(e, self.site_named.as_deref())
    }
}
