//! The per-site Durable Object: a thin adapter around the presence core.
//!
//! Every input (a call from the Worker or another object of the site, a socket message or
//! close, the alarm) goes through [`SitePresence::step`]: the core takes it, then
//! [`Loaded::carry_out`] does what the core answers (SQLite writes, socket sends and closes) in
//! one place, and the alarm is moved to the core's next wake-up. Around it:
//! - `start.rs`: start-up, once per instance: which site and which of its objects this is,
//!   the stored state, the open sockets (partyserver's `onStart`);
//! - `calls.rs`: one function per call, each answering a typed value;
//! - `storage.rs` (the schema and the writes), `attachment.rs` (what a socket carries through
//!   hibernation), `runtime.rs` (clock, randomness, and what workers-rs does not wrap),
//!   `webhooks.rs` (signed deliveries), `hooks.rs` (the test hooks).
//!
//! What survives a restart: session rows (joins and ends only, of sessions held over HTTP or
//! carrying an entity; heartbeats write nothing), the visitor-hash salt, entities' last-seen
//! times, the site and its placement, and each socket's attachment (which carries its session).
//! Everything else is rebuilt on start. The alarm holds only deadlines that must survive
//! hibernation; throttled messages wait on a timer in memory (`flush_later`).

mod attachment;
mod calls;
#[cfg(feature = "test-hooks")]
mod hooks;
mod runtime;
mod start;
mod storage;
mod webhooks;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::Promise;
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::worker_sys::{DurableObjectState, DurableObjectStorage};
use worker::{web_sys, Env, Response, Result, State, WebSocket, WebSocketRequestResponsePair};

use crate::api::call::decode_for;
use crate::api::{ApiError, SiteCall};
use crate::http::{self, ObjectCall};
use crate::presence::messages;
use crate::presence::shards::{Report, ShardCall, Totals};
use crate::presence::{Closed, Effects, Incoming, Millis, Placement, Presence, SocketId};
use crate::token;
use attachment::Attachment;
use storage::Storage;
use webhooks::WebhookTarget;

/// The object's state once started (after construction, a restart or a wake from hibernation).
struct Loaded {
    core: Presence,
    storage: Storage,
    salt: Vec<u8>,
    sockets: HashMap<SocketId, WebSocket>,
    /// When the core asked to be woken, after the last input.
    wake_at: Option<Millis>,
    /// The alarm we set and that has not fired yet.
    alarm_at: Option<Millis>,
    /// The flush timer pending in memory (throttled messages), if any: when it fires.
    flush_at: Option<Millis>,
    /// The site this object holds, and which of its objects it is.
    site: String,
    placement: Placement,
    /// Where and how this site's webhooks go, if it has them.
    webhook: Option<WebhookTarget>,
    /// The secrets that sign the site's tokens (for sockets renewing theirs).
    keys: Vec<(String, Vec<u8>)>,
    /// When old history was last deleted.
    pruned_at: Millis,
    /// When this instance started (a new value means it was rebuilt: a restart or a wake from
    /// hibernation).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    loaded_at: Millis,
    /// Test hook: how far this object's clock is moved from the real time.
    clock_offset: i64,
    /// Count reads answered (the bench and the tests watch what reaches the object).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    count_reads: u64,
    /// `setAlarm` calls made (the tests watch what is billed).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    alarms_set: u64,
    /// Keeps the object in memory while the core asks for it.
    residency: Residency,
    /// Test hook: the next alarm fails (so that the runtime retries it).
    #[cfg(feature = "test-hooks")]
    fail_next_alarm: bool,
}

impl Loaded {
    /// The object's time: the real time, moved only by the clock test hook.
    fn now(&self) -> Millis {
        runtime::now().saturating_add_signed(self.clock_offset)
    }

    /// Does what the core asked, in order: writes, then sends, then closes.
    fn carry_out(&mut self, fx: Effects) -> Result<()> {
        self.storage.apply(fx.writes)?;
        for send in fx.sends {
            let text = runtime::Outgoing::new(&send.message.text());
            for id in &send.to {
                if let Some(ws) = self.sockets.get(id) {
                    // A socket closing meanwhile is told nothing; its close event follows.
                    let _ = text.send(ws);
                }
            }
        }
        for close in fx.closes {
            if let Some(ws) = self.sockets.remove(&close.socket) {
                let _ = ws.close(Some(close.code), Some(close.reason));
            }
        }
        for (id, away) in fx.marks {
            if let Some(ws) = self.sockets.get(&id) {
                if let Some(mut a) = Attachment::load(ws) {
                    if let Some(s) = a.session.as_mut() {
                        s.away = away;
                    }
                    a.save(ws)?;
                }
            }
        }
        self.wake_at = fx.wake_at;
        self.residency.want(fx.stay_resident);
        Ok(())
    }
}

/// A pending timer keeps a Durable Object from hibernating (the runtime hibernates an idle
/// object only when no `setTimeout` is scheduled). While HTTP-held sessions live, one timer at a
/// time is kept pending, renewed every half minute for as long as the core asks; then the
/// object may hibernate again. Without it, a site whose visitors heartbeat over HTTP every 15 s
/// would hibernate after each heartbeat (10 s idle) and restore its sessions from storage on
/// the next one.
#[derive(Default)]
struct Residency {
    wanted: std::rc::Rc<std::cell::Cell<bool>>,
    running: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Residency {
    const RENEW: std::time::Duration = std::time::Duration::from_secs(30);

    fn want(&self, wanted: bool) {
        self.wanted.set(wanted);
        if !wanted || self.running.replace(true) {
            return;
        }
        let (wanted, running) = (self.wanted.clone(), self.running.clone());
        worker::wasm_bindgen_futures::spawn_local(async move {
            loop {
                worker::Delay::from(Self::RENEW).await;
                if !wanted.get() {
                    running.set(false);
                    break;
                }
            }
        });
    }
}

/// What a call answers: JSON text, a contract error, or the client end of a new socket.
enum Answer {
    Json(String),
    Refused(ApiError),
    Socket(WebSocket),
}

impl Answer {
    /// `value` as the JSON answer (these plain types always serialize).
    fn json(value: &impl serde::Serialize) -> Answer {
        Answer::Json(serde_json::to_string(value).unwrap_or_default())
    }
}

/// A call as it arrives: from the Worker, or from another object of the site.
enum Call {
    Site(SiteCall),
    Shard(ShardCall),
}

impl Call {
    /// The call `req` carries, with the object it is for, and (a public call) the client's
    /// `Origin` (empty when the client sent none); `None` when it carries no call it can read.
    /// The headers are read in one call into JS (`callOf` in `src/runtime.js`).
    fn of(req: &web_sys::Request) -> Option<(Call, Placement, Option<String>)> {
        let at = |(index, count)| Placement { index, count };
        let carried = raw::call_of(req);
        let (kind, rest) = carried.split_at_checked(1)?;
        match kind {
            "c" => decode_for(rest).map(|(p, call)| (Call::Site(call), at(p), None)),
            "p" => {
                let (call, origin) = rest.split_once('\n')?;
                decode_for(call).map(|(p, call)| (Call::Site(call), at(p), Some(origin.to_owned())))
            }
            "s" => decode_for(rest).map(|(p, call)| (Call::Shard(call), at(p), None)),
            _ => None,
        }
    }

    fn site(&self) -> &str {
        match self {
            Call::Site(c) => c.site(),
            Call::Shard(c) => c.site(),
        }
    }
}

/// The class the runtime constructs for each of a site's objects.
///
/// Exported here with `wasm_bindgen` rather than through workers-rs's `#[durable_object]`:
/// its glue makes every handler an `async` export (a `Promise` per call and a
/// `queueMicrotask` per wake of its future) and converts each request into a
/// `worker::Request` (method, URL, headers and `cf` read into Rust) and each answer into a
/// `Response` by copying its body. A ping, a socket message and a close need no `await` here
/// (SQLite is synchronous), so these handlers answer synchronously, and return a `Promise`
/// only when an alarm must be moved (`setAlarm`), which is rare. The alarm stays `async`
/// (webhook deliveries).
#[wasm_bindgen]
pub struct SitePresence {
    state: State,
    env: Env,
    loaded: Rc<RefCell<Option<Loaded>>>,
    /// The object's storage, for the alarm (shared with the flush timer).
    storage: Rc<DurableObjectStorage>,
}

/// What the flush timer needs of the object once the input that set it has returned.
#[derive(Clone)]
struct Timer {
    loaded: Rc<RefCell<Option<Loaded>>>,
    env: Env,
    storage: Rc<DurableObjectStorage>,
}

#[wasm_bindgen(wasm_bindgen_futures = worker::wasm_bindgen_futures, js_sys = worker::js_sys)]
impl SitePresence {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> std::result::Result<SitePresence, JsValue> {
        let storage = Rc::new(state.storage()?);
        let state = State::from(state);
        if let Ok(pair) = WebSocketRequestResponsePair::new(messages::PING, messages::PONG) {
            state.set_websocket_auto_response(&pair);
        }
        Ok(SitePresence {
            state,
            env,
            loaded: Rc::new(RefCell::new(None)),
            storage,
        })
    }

    /// A call from the Worker or another object of the site: its answer, or a `Promise` of it
    /// when the alarm moves.
    pub fn fetch(&self, req: web_sys::Request) -> std::result::Result<JsValue, JsValue> {
        let (answer, origin) = self.call(&req)?;
        let resp: web_sys::Response = match answer {
            // the client's answer as it is (a public call: `herenow-origin`), else only the
            // caller reads it
            Answer::Json(text) => match origin {
                Some(origin) => {
                    http::public_json(&text, Some(origin.as_str()).filter(|o| !o.is_empty()))?
                }
                None => http::internal_json(&text)?,
            },
            Answer::Refused(e) => http::error(&e, None)?.into(),
            Answer::Socket(client) => Response::from_websocket(client)?.into(),
        };
        Ok(match self.arm_alarm()? {
            Some(set) => future_to_promise(async move {
                JsFuture::from(set).await?;
                Ok(resp.into())
            })
            .into(),
            None => resp.into(),
        })
    }

    pub async fn alarm(&self) -> std::result::Result<JsValue, JsValue> {
        self.on_alarm().await?;
        Ok(JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn websocket_message(
        &self,
        ws: web_sys::WebSocket,
        message: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        let ws = WebSocket::from(ws);
        if let Some(attachment) = Attachment::load(&ws) {
            self.step(|l, now| {
                let text = message.as_string();
                let incoming = match &text {
                    Some(t) => match t.trim().strip_prefix(messages::TOKEN_PREFIX) {
                        Some(jwt) => {
                            Incoming::Token(renew(l, &ws, attachment.clone(), jwt.trim(), now))
                        }
                        None => Incoming::Text(t),
                    },
                    None => Incoming::Binary(binary_length(&message)),
                };
                l.core.socket_message(now, attachment.id, incoming);
            })?;
        }
        self.settled()
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn websocket_close(
        &self,
        ws: web_sys::WebSocket,
        code: u32,
        _reason: String,
        _clean: bool,
    ) -> std::result::Result<JsValue, JsValue> {
        let ws = WebSocket::from(ws);
        let how = Closed::from_code(u16::try_from(code).unwrap_or(1006));
        self.socket_gone(&ws, how)?;
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(1000), Some("closed"));
        self.settled()
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn websocket_error(
        &self,
        ws: web_sys::WebSocket,
        _error: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        let ws = WebSocket::from(ws);
        self.socket_gone(&ws, Closed::Abnormal)?;
        self.settled()
    }
}

/// The length of a binary socket message (an `ArrayBuffer`; its bytes are never read).
fn binary_length(message: &JsValue) -> usize {
    message
        .dyn_ref::<worker::js_sys::ArrayBuffer>()
        .map_or(0, |b| b.byte_length() as usize)
}

impl SitePresence {
    /// Answers a call: which one it is (its header), then the call against the core; with the
    /// client's `Origin` when the answer goes to the client as it is.
    fn call(&self, req: &web_sys::Request) -> Result<(Answer, Option<String>)> {
        let Some((call, placement, origin)) = Call::of(req) else {
            let refused = ApiError::bad_request("Not a herenow call.");
            return Ok((Answer::Refused(refused), None));
        };
        self.ensure_started(Some((call.site(), placement)))?;
        let answer = match call {
            Call::Site(call) => self.answer(call)?,
            Call::Shard(call) => self.answer_shard(call)?,
        };
        Ok((answer, origin))
    }

    async fn on_alarm(&self) -> Result<()> {
        if !self.ensure_started(None)? {
            return Ok(()); // no site
        }
        #[cfg(feature = "test-hooks")]
        if self.take_failing_alarm() {
            return Err(worker::Error::RustError(
                "test hook: this alarm fails".into(),
            ));
        }
        let state = &self.state;
        self.step(|l, now| -> Result<()> {
            l.alarm_at = None;
            let (sockets, offset) = (&l.sockets, l.clock_offset);
            l.core.alarm(now, |id| {
                sockets
                    .get(&id)
                    .and_then(|ws| runtime::last_auto_pong(state, ws))
                    .map(|t| t.saturating_add_signed(offset))
            });
            if now >= l.pruned_at + 3_600_000 {
                l.storage.prune_history(now)?;
                l.pruned_at = now;
            }
            Ok(())
        })??;
        self.arm_alarm_now().await?;
        self.deliver_webhooks().await
    }

    /// What a socket event answers the runtime: nothing, or the `Promise` of moving the alarm.
    fn settled(&self) -> std::result::Result<JsValue, JsValue> {
        Ok(self.arm_alarm()?.map_or(JsValue::UNDEFINED, JsValue::from))
    }
}

/// A socket's `token <jwt>`: checked against the site's secrets and what the socket's first
/// token granted (`token::renewal`); a renewal that extends it is kept in its attachment (it
/// survives hibernation) and answers the new end of its rights.
fn renew(
    l: &Loaded,
    ws: &WebSocket,
    mut a: Attachment,
    jwt: &str,
    now: Millis,
) -> std::result::Result<Millis, &'static str> {
    let Some(grant) = a.grant.as_mut() else {
        return Err("This socket was opened without a token.");
    };
    let keys: Vec<token::Key<'_>> = (l.keys.iter())
        .map(|(name, secret)| token::Key { name, secret })
        .collect();
    let claims = token::verify(jwt, &keys, now).map_err(|e| e.message())?;
    let until =
        token::renewal(&claims, grant, &a.watch, a.members.as_deref()).map_err(|e| e.message())?;
    grant.until = until;
    a.save(ws).map_err(|_| "The renewal could not be kept.")?;
    Ok(until)
}

impl SitePresence {
    /// Runs one input against the core at the current time, then carries out everything the
    /// core answers. The one path from an event to its effects.
    fn step<T>(&self, input: impl FnOnce(&mut Loaded, Millis) -> T) -> Result<T> {
        self.ensure_started(None)?;
        let mut guard = self.loaded.borrow_mut();
        let l = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("the object knows no site yet".into()))?;
        let now = l.now();
        let out = input(l, now);
        let fx = l.core.poll(now);
        self.carry_out(l, fx)?;
        Ok(out)
    }

    /// Carries out `fx` (its report or pushes go to the site's other objects), and sets the
    /// flush timer it asks for.
    fn carry_out(&self, l: &mut Loaded, fx: Effects) -> Result<()> {
        let flush_at = fx.flush_at;
        carry_out(&self.env, l, fx)?;
        flush_later(&|| self.timer(), l, flush_at);
        Ok(())
    }

    fn timer(&self) -> Timer {
        Timer {
            loaded: self.loaded.clone(),
            env: self.env.clone(),
            storage: self.storage.clone(),
        }
    }

    /// Moves the alarm to the core's next wake-up when that is earlier than the one set: the
    /// runtime's `setAlarm` promise, if it was called.
    fn arm_alarm(&self) -> Result<Option<Promise>> {
        arm_alarm(&self.loaded, &self.storage)
    }

    /// [`Self::arm_alarm`], waited for.
    async fn arm_alarm_now(&self) -> Result<()> {
        settle(self.arm_alarm()?).await
    }

    /// Tries the webhook deliveries that are due (after the alarm), each entity's in order,
    /// different entities at once; their outcomes go back to the core's queue.
    async fn deliver_webhooks(&self) -> Result<()> {
        let (due, target) = self.step(|l, now| (l.core.due_webhooks(now), l.webhook.clone()))?;
        let Some(target) = target else {
            return Ok(());
        };
        if due.is_empty() {
            return Ok(());
        }
        let tries = due.iter().map(|d| target.post(d));
        let outcomes = futures_util::future::join_all(tries).await;
        self.step(|l, now| {
            for (d, outcome) in due.iter().zip(outcomes) {
                l.core.webhook_answered(&d.id, outcome, now);
            }
        })?;
        self.arm_alarm_now().await
    }

    fn socket_gone(&self, ws: &WebSocket, how: Closed) -> Result<()> {
        let Some(id) = Attachment::load(ws).map(|a| a.id) else {
            return Ok(());
        };
        self.step(|l, now| {
            l.sockets.remove(&id);
            l.core.socket_closed(now, id, how);
        })
    }
}

/// Carries out `fx`: the writes, sends and closes in the object, a report or pushes to the
/// site's other objects.
fn carry_out(env: &Env, l: &mut Loaded, mut fx: Effects) -> Result<()> {
    let (report, pushes) = (fx.report.take(), std::mem::take(&mut fx.pushes));
    l.carry_out(fx)?;
    if report.is_some() || !pushes.is_empty() {
        send_to_objects(env, l.site.clone(), l.placement, report, pushes);
    }
    Ok(())
}

/// Sets the flush timer for `at` unless one as early is pending (`timer` is asked for only
/// then: most inputs set none, and it clones the object's handles). Throttled messages (counts,
/// members) wait at most one broadcast interval, while the object is awake anyway: a timer in
/// memory costs nothing where the alarm would cost a `setAlarm` (billed as a row written) and
/// an alarm invocation (a request) per interval with changes. When it fires, the core is
/// polled as after any input; a timer lost with the instance (a restart) leaves what was
/// pending to the next change or alarm.
fn flush_later(timer: &dyn Fn() -> Timer, l: &mut Loaded, at: Option<Millis>) {
    let Some(at) = at else {
        return;
    };
    if l.flush_at.is_some_and(|pending| pending <= at) {
        return;
    }
    l.flush_at = Some(at);
    let mut wait = at.saturating_sub(l.now());
    let timer = timer();
    worker::wasm_bindgen_futures::spawn_local(async move {
        loop {
            worker::Delay::from(std::time::Duration::from_millis(wait)).await;
            // Inputs never hold the state across an await; should one, try again at once.
            let Ok(mut guard) = timer.loaded.try_borrow_mut() else {
                wait = 1;
                continue;
            };
            let Some(l) = guard.as_mut() else {
                return;
            };
            if l.flush_at != Some(at) {
                return; // an earlier timer replaced this one
            }
            l.flush_at = None;
            let fx = l.core.poll(l.now());
            let next = fx.flush_at;
            if let Err(e) = carry_out(&timer.env, l, fx) {
                let message = e.to_string();
                worker::console_error!(
                    "{}",
                    crate::log::Line::Internal { message: &message }.text()
                );
            }
            flush_later(&|| timer.clone(), l, next);
            break;
        }
        if let Ok(set) = arm_alarm(&timer.loaded, &timer.storage) {
            let _ = settle(set).await;
        }
    });
}

/// A shard's report to its coordinator (whose answer it sends itself, as a call, so that it
/// reaches the core like any input), or a coordinator's pushes to its shards. Sent in the
/// background: no request waits for them; a report not answered times out in the core.
fn send_to_objects(
    env: &Env,
    site: String,
    placement: Placement,
    report: Option<Report>,
    pushes: Vec<(u32, Totals)>,
) {
    let env = env.clone();
    let count = placement.count;
    worker::wasm_bindgen_futures::spawn_local(async move {
        if let Some(report) = report {
            let call = ShardCall::Report {
                site: site.clone(),
                report,
            };
            let answer =
                http::call_object(&env, &site, (0, count), ObjectCall::Shard(&call), false);
            if let Some(totals) = match answer.await {
                Ok(resp) => http::read_json::<Totals>(resp).await,
                Err(_) => None,
            } {
                let answered = ShardCall::Answered {
                    site: site.clone(),
                    totals,
                };
                let me = (placement.index, count);
                let _ =
                    http::call_object(&env, &site, me, ObjectCall::Shard(&answered), false).await;
            }
        }
        let sends = pushes.into_iter().map(|(shard, totals)| {
            let (env, site) = (env.clone(), site.clone());
            async move {
                let call = ShardCall::Push {
                    site: site.clone(),
                    totals,
                };
                let to = (shard, count);
                let _ = http::call_object(&env, &site, to, ObjectCall::Shard(&call), false).await;
            }
        });
        futures_util::future::join_all(sends).await;
    });
}

/// Moves the alarm to the core's next wake-up when that is earlier than the one set; answers
/// the runtime's `setAlarm` promise when it was called. Not waiting for it is safe: the
/// object's output gate holds its answers until the alarm is stored, and a failed write resets
/// the object.
fn arm_alarm(
    loaded: &RefCell<Option<Loaded>>,
    storage: &DurableObjectStorage,
) -> Result<Option<Promise>> {
    let target = {
        let mut guard = loaded.borrow_mut();
        let Some(l) = guard.as_mut() else {
            return Ok(None);
        };
        // Never at or before now: an alarm set inside the alarm handler for the time that
        // is running is dropped when the handler ends. An alarm set in the past has fired.
        let now = l.now();
        match l.wake_at.map(|w| w.max(now + 1)) {
            Some(w) if l.alarm_at.is_none_or(|a| a <= now || w < a) => {
                l.alarm_at = Some(w);
                l.alarms_set += 1;
                // the runtime's clock is the real one
                Some(w.saturating_add_signed(-l.clock_offset))
            }
            _ => None,
        }
    };
    let Some(w) = target else {
        return Ok(None);
    };
    let date = worker::js_sys::Date::new(&JsValue::from_f64(w as f64));
    Ok(Some(
        storage.set_alarm(date, JsValue::NULL.unchecked_into())?,
    ))
}

/// Waits for a `setAlarm` promise, if there is one.
async fn settle(set: Option<Promise>) -> Result<()> {
    if let Some(p) = set {
        JsFuture::from(p).await?;
    }
    Ok(())
}

mod raw {
    use wasm_bindgen::prelude::wasm_bindgen;
    use worker::web_sys;

    #[wasm_bindgen(module = "/src/runtime.js")]
    extern "C" {
        /// The call a request carries: `c` and a site call, `p`, a site call, `\n` and the
        /// client's `Origin`, `s` and a shard call, or empty (`callOf` says how).
        #[wasm_bindgen(js_name = callOf)]
        pub fn call_of(request: &web_sys::Request) -> String;
    }
}
