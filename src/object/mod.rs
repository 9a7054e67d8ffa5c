//! The per-site Durable Object: a thin adapter around the presence core.
//!
//! Every input (a call from the Worker, a socket message or close, the alarm) goes through
//! [`SitePresence::step`]: the core takes it, then [`Loaded::carry_out`] does what the core
//! answers (SQLite writes, socket sends and closes) in one place, and the alarm is moved to the
//! core's next wake-up. The plumbing lives beside this file: `storage.rs` (the schema and the
//! writes), `attachment.rs` (what a socket carries through hibernation), `runtime.rs` (clock,
//! randomness, and what workers-rs does not wrap).
//!
//! What survives a restart: session rows (joins and ends only; heartbeats write nothing), the
//! visitor-hash salt, entities' last-seen times, and each socket's attachment. Everything else
//! is rebuilt on load.

mod attachment;
mod runtime;
mod storage;
mod webhooks;

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

use crate::api::call::{parse_shard, CALL_HEADER, SHARD_HEADER};
use crate::api::{
    ApiError, CountQuery, HistoryQuery, LiveQuery, MembersQuery, Ping, RoomsQuery, SiteCall,
    DEFAULT_ROOM,
};
use crate::config::presence_config;
use crate::http;
use crate::presence::effects::members_json;
use crate::presence::history::{self, Range};
use crate::presence::{
    Closed, Effects, Event, Incoming, Millis, Presence, SocketId, SocketSession, SocketSpec,
};
use crate::visitor::visitor_key;
use attachment::Attachment;
use storage::Storage;
use webhooks::WebhookTarget;

/// The object's state once loaded (after construction, a restart or a wake from hibernation).
struct Loaded {
    core: Presence,
    storage: Storage,
    salt: Vec<u8>,
    sockets: HashMap<SocketId, WebSocket>,
    /// When the core asked to be woken, after the last input.
    wake_at: Option<Millis>,
    /// The alarm we set and that has not fired yet.
    alarm_at: Option<Millis>,
    /// The site this object holds (learned from the first call, kept in storage).
    site: Option<String>,
    /// Which of the site's objects this is, of how many (from the calls, kept in storage).
    shard: (u32, u32),
    /// Where and how this site's webhooks go, if it has them.
    webhook: Option<WebhookTarget>,
    /// When old history was last deleted.
    pruned_at: Millis,
    /// When this instance loaded its state (a new value means it was rebuilt: a restart or a
    /// wake from hibernation).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    loaded_at: Millis,
    /// Test hook: how far this object's clock is moved from the real time.
    clock_offset: i64,
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

/// What a call answers: JSON, a contract error, or the client end of a new socket.
enum Answer {
    Json(serde_json::Value),
    Refused(ApiError),
    Socket(WebSocket),
}

#[durable_object]
pub struct SitePresence {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
}

impl DurableObject for SitePresence {
    fn new(state: State, env: Env) -> Self {
        if let Ok(pair) = WebSocketRequestResponsePair::new("ping", "pong") {
            state.set_websocket_auto_response(&pair);
        }
        SitePresence {
            state,
            env,
            loaded: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let call = req
            .headers()
            .get(CALL_HEADER)?
            .and_then(|h| SiteCall::decode(&h));
        let shard = req
            .headers()
            .get(SHARD_HEADER)?
            .and_then(|h| parse_shard(&h));
        let Some(call) = call else {
            return http::error(&ApiError::bad_request("Not a herenow call."), None);
        };
        let answer = self.answer(call, shard)?;
        self.arm_alarm().await?;
        match answer {
            Answer::Json(v) => http::json(200, v.to_string(), None),
            Answer::Refused(e) => http::error(&e, None),
            Answer::Socket(client) => Response::from_websocket(client),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        #[cfg(feature = "test-hooks")]
        {
            self.ensure_loaded()?;
            let fail = self
                .loaded
                .borrow_mut()
                .as_mut()
                .is_some_and(|l| std::mem::take(&mut l.fail_next_alarm));
            if fail {
                if let Some(l) = self.loaded.borrow_mut().as_mut() {
                    l.alarm_at = None;
                }
                return Err(worker::Error::RustError(
                    "test hook: this alarm fails".into(),
                ));
            }
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
        self.arm_alarm().await?;
        self.deliver_webhooks().await?;
        Response::ok("ok")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(id) = Attachment::load(&ws).map(|a| a.id) else {
            return Ok(());
        };
        self.step(|l, now| {
            let incoming = match &message {
                WebSocketIncomingMessage::String(t) => Incoming::Text(t),
                WebSocketIncomingMessage::Binary(b) => Incoming::Binary(b.len()),
            };
            l.core.socket_message(now, id, incoming);
        })?;
        self.arm_alarm().await
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let how = Closed::from_code(u16::try_from(code).unwrap_or(1006));
        self.socket_gone(&ws, how)?;
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(1000), Some("closed"));
        self.arm_alarm().await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.socket_gone(&ws, Closed::Abnormal)?;
        self.arm_alarm().await
    }
}

impl SitePresence {
    /// Runs one input against the core at the current time, then carries out everything the
    /// core answers. The one path from an event to its effects.
    fn step<T>(&self, input: impl FnOnce(&mut Loaded, Millis) -> T) -> Result<T> {
        self.ensure_loaded()?;
        let mut guard = self.loaded.borrow_mut();
        let l = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("state not loaded".into()))?;
        let now = l.now();
        let out = input(l, now);
        let mut fx = l.core.poll(now);
        let (report, pushes) = (fx.report.take(), std::mem::take(&mut fx.pushes));
        l.carry_out(fx)?;
        if report.is_some() || !pushes.is_empty() {
            if let Some(site) = l.site.clone() {
                self.send_to_objects(site, l.shard, report, pushes);
            }
        }
        Ok(out)
    }

    /// A shard's report to its coordinator (whose answer it sends itself, as a call, so that it
    /// reaches the core like any input), or a coordinator's pushes to its shards. Sent in the
    /// background: no request waits for them; a report not answered times out in the core.
    fn send_to_objects(
        &self,
        site: String,
        (index, count): (u32, u32),
        report: Option<crate::presence::shards::Report>,
        pushes: Vec<(u32, crate::presence::shards::Totals)>,
    ) {
        let env = self.env.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            if let Some(report) = report {
                let call = SiteCall::Report {
                    site: site.clone(),
                    report,
                };
                if let Ok(mut resp) = http::call_object(&env, &site, 0, count, &call, false).await {
                    if let Ok(totals) = resp.json().await {
                        let answered = SiteCall::Answered {
                            site: site.clone(),
                            totals,
                        };
                        let _ =
                            http::call_object(&env, &site, index, count, &answered, false).await;
                    }
                }
            }
            let sends = pushes.into_iter().map(|(shard, totals)| {
                let call = SiteCall::Totals {
                    site: site.clone(),
                    totals,
                };
                let (env, site) = (env.clone(), site.clone());
                async move {
                    let _ = http::call_object(&env, &site, shard, count, &call, false).await;
                }
            });
            futures_util::future::join_all(sends).await;
        });
    }

    /// Moves the alarm to the core's next wake-up when that is earlier than the one set.
    async fn arm_alarm(&self) -> Result<()> {
        let target = {
            let mut guard = self.loaded.borrow_mut();
            let Some(l) = guard.as_mut() else {
                return Ok(());
            };
            // Never at or before now: an alarm set inside the alarm handler for the time that
            // is running is dropped when the handler ends. An alarm set in the past has fired.
            let now = l.now();
            match l.wake_at.map(|w| w.max(now + 1)) {
                Some(w) if l.alarm_at.is_none_or(|a| a <= now || w < a) => {
                    l.alarm_at = Some(w);
                    // the runtime's clock is the real one
                    Some(w.saturating_add_signed(-l.clock_offset))
                }
                _ => None,
            }
        };
        if let Some(w) = target {
            let date = worker::js_sys::Date::new(&JsValue::from_f64(w as f64));
            self.state
                .storage()
                .set_alarm(worker::ScheduledTime::new(date))
                .await?;
        }
        Ok(())
    }

    /// Builds the in-memory state on first use after construction (a fresh start, a restart,
    /// or a wake from hibernation): schema, salt, stored sessions, open sockets.
    fn ensure_loaded(&self) -> Result<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let now = runtime::now();
        let cfg = presence_config(|name| {
            self.env
                .var(name)
                .ok()
                .map(|v| v.to_string())
                .filter(|s| !s.is_empty())
        });
        let storage = Storage::open(self.state.storage().sql())?;
        let salt = storage.salt(|| {
            format!(
                "{:016x}{:016x}",
                runtime::random_u64(),
                runtime::random_u64()
            )
        })?;
        let rows = storage.sessions()?;
        let mut sockets = HashMap::new();
        let mut specs = Vec::new();
        for ws in self.state.get_websockets() {
            // Their last pong is asked of the runtime by the alarm, for sockets near their
            // deadline only, so a wake-up with thousands of sockets stays quick.
            match Attachment::load(&ws).and_then(|a| a.spec(None)) {
                Some(spec) => {
                    sockets.insert(spec.id, ws);
                    specs.push(spec);
                }
                None => {
                    let _ = ws.close(Some(1011), Some("lost its state"));
                }
            }
        }
        let site = storage.meta("site")?;
        let shard = storage
            .meta("shard")?
            .and_then(|s| parse_shard(&s))
            .unwrap_or((0, 1));
        let mut core = Presence::new(cfg);
        core.set_instance(runtime::random_u64() >> 12);
        core.set_shard(shard.0, shard.1);
        core.restore(now, rows, specs);
        let mut l = Loaded {
            core,
            storage,
            salt,
            sockets,
            wake_at: None,
            alarm_at: None,
            site: None,
            shard,
            webhook: None,
            pruned_at: 0,
            loaded_at: now,
            clock_offset: 0,
            residency: Residency::default(),
            #[cfg(feature = "test-hooks")]
            fail_next_alarm: false,
        };
        if let Some(site) = site {
            self.configure(&mut l, site)?;
        }
        let mut fx = l.core.poll(now);
        let (report, pushes) = (fx.report.take(), std::mem::take(&mut fx.pushes));
        l.carry_out(fx)?;
        if let Some(site) = l.site.clone() {
            // a restarted coordinator greets its shards; a restarted shard reports in full
            self.send_to_objects(site, l.shard, report, pushes);
        }
        *self.loaded.borrow_mut() = Some(l);
        Ok(())
    }

    /// Learns which site this object holds (the first call says; storage keeps it for the
    /// alarms that come with no call), and sets up that site's webhooks.
    fn know_site(&self, site: &str, shard: Option<(u32, u32)>) -> Result<()> {
        self.ensure_loaded()?;
        let mut guard = self.loaded.borrow_mut();
        let Some(l) = guard.as_mut() else {
            return Ok(());
        };
        if let Some((index, count)) = shard.filter(|s| *s != l.shard) {
            l.storage.set_meta("shard", &format!("{index}/{count}"))?;
            l.shard = (index, count);
            l.core.set_shard(index, count);
        }
        if l.site.as_deref() == Some(site) {
            return Ok(());
        }
        l.storage.set_meta("site", site)?;
        self.configure(l, site.to_owned())
    }

    fn configure(&self, l: &mut Loaded, site: String) -> Result<()> {
        l.webhook = WebhookTarget::for_site(&self.env, &site);
        if let Some(target) = &l.webhook {
            let prefix = format!("{:x}", runtime::random_u64() & 0xffff_ffff);
            let stored = l.storage.webhooks()?;
            l.core
                .enable_webhooks(&site, target.events, &prefix, stored);
            if !target.can_sign() {
                l.core.hold_webhooks();
            }
        }
        l.site = Some(site);
        Ok(())
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
        self.arm_alarm().await
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

    // ----- calls from the Worker -----

    fn answer(&self, call: SiteCall, shard: Option<(u32, u32)>) -> Result<Answer> {
        if let Some(site) = call.site() {
            self.know_site(site, shard)?;
        }
        match call {
            SiteCall::Ping(p) => self.ping(p),
            SiteCall::Count(q) => self.count(q),
            SiteCall::Rooms(q) => self.rooms(q),
            SiteCall::Status(q) => self.status(&q.entities),
            SiteCall::Members(q) => self.members(q),
            SiteCall::History(q) => self.history(q),
            SiteCall::Report { report, .. } => {
                self.step(|l, now| Answer::Json(json!(l.core.receive_report(now, report))))
            }
            SiteCall::Answered { totals, .. } => self.step(|l, now| {
                l.core.report_answered(now, Some(totals));
                Answer::Json(json!({}))
            }),
            SiteCall::Totals { totals, .. } => self.step(|l, _| {
                l.core.totals_pushed(totals);
                Answer::Json(json!({}))
            }),
            SiteCall::Anonymous { room, .. } => {
                self.step(|l, _| Answer::Json(json!(l.core.local_anonymous(&room))))
            }
            SiteCall::Live(q) => self.live(q),
            #[cfg(feature = "test-hooks")]
            SiteCall::Test { hook } => self.test_hook(hook),
        }
    }

    fn ping(&self, p: Ping) -> Result<Answer> {
        self.step(|l, now| {
            let visitor = visitor_key(&l.salt, p.visitor.as_deref(), &p.session);
            let ping = crate::presence::Ping {
                session: &p.session,
                room: &p.room,
                visitor,
                event: Event::from(p.event),
                entity: p.entity.as_deref(),
                info: p.info.as_deref(),
            };
            let cfg = l.core.config();
            match l.core.ping(now, ping) {
                Ok(snap) => Answer::Json(json!({
                    "site": snap.site,
                    "room": snap.room,
                    "heartbeat_ms": cfg.heartbeat_ms,
                    "ttl_ms": cfg.ttl_ms,
                })),
                Err(r) => Answer::Refused(r.into()),
            }
        })
    }

    fn count(&self, q: CountQuery) -> Result<Answer> {
        self.step(|l, _| {
            let snap = l.core.snapshot(q.room.as_deref());
            Answer::Json(match snap.room {
                Some(room) => json!({"site": snap.site, "room": room}),
                None => json!({"site": snap.site}),
            })
        })
    }

    fn rooms(&self, q: RoomsQuery) -> Result<Answer> {
        self.step(|l, _| {
            Answer::Json(json!({"site": l.core.site_counts(), "rooms": l.core.top_rooms(q.limit)}))
        })
    }

    fn status(&self, entities: &[String]) -> Result<Answer> {
        self.step(|l, _| {
            let storage = &l.storage;
            let map: serde_json::Map<String, serde_json::Value> = l
                .core
                .statuses(entities, |e| storage.entity(e).unwrap_or_default())
                .into_iter()
                .map(|(e, s)| (e, json!(s)))
                .collect();
            Answer::Json(json!({ "entities": map }))
        })
    }

    fn history(&self, q: HistoryQuery) -> Result<Answer> {
        let range = Range::parse(&q.range).unwrap_or(Range::Hour);
        self.step(|l, now| -> Result<Answer> {
            let (first, _) = range.span(now);
            let rows = l.storage.history(first)?;
            let pending = l.core.history_pending();
            let answer = history::answer(&q.site, range, now, None, &rows, pending);
            Ok(Answer::Json(json!(answer)))
        })?
    }

    fn members(&self, q: MembersQuery) -> Result<Answer> {
        self.step(|l, _| {
            let (members, truncated, anonymous) = l.core.members(&q.room);
            Answer::Json(members_json(&q.room, &members, anonymous, truncated))
        })
    }

    fn live(&self, q: LiveQuery) -> Result<Answer> {
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        // 52 bits: an exact number in JavaScript too.
        let id = runtime::random_u64() & 0x000f_ffff_ffff_ffff;
        let refused = self.step(|l, now| -> Result<Option<ApiError>> {
            let session = q.session.as_ref().map(|s| SocketSession {
                session: s.clone(),
                visitor: visitor_key(&l.salt, q.visitor.as_deref(), s),
                room: q.room.clone().unwrap_or_else(|| DEFAULT_ROOM.to_owned()),
                entity: q.entity.clone(),
                info: q.info.clone(),
                away: false,
            });
            let spec = SocketSpec {
                id,
                session,
                view: q.room.clone(),
                watch: q.watch.clone(),
                members: q.members.clone(),
                seen_at: now,
            };
            let attachment = Attachment::of(&spec);
            let storage = &l.storage;
            if let Err(r) = l
                .core
                .socket_open(now, spec, |e| storage.entity(e).unwrap_or_default())
            {
                return Ok(Some(r.into()));
            }
            self.state.accept_web_socket(&server);
            attachment.save(&server)?;
            l.sockets.insert(id, server.clone());
            Ok(None)
        })??;
        Ok(match refused {
            Some(e) => Answer::Refused(e),
            None => Answer::Socket(pair.client),
        })
    }

    #[cfg(feature = "test-hooks")]
    fn test_hook(&self, hook: crate::api::call::TestHook) -> Result<Answer> {
        use crate::api::call::TestHook;
        match hook {
            TestHook::Panic => panic!("test hook: a panic inside the Durable Object"),
            TestHook::Clock { offset_ms } => self.step(|l, _| {
                l.clock_offset = offset_ms;
                // timers were set on the old clock: look again now
                l.alarm_at = None;
                Answer::Json(json!({"hook": "clock", "offset_ms": offset_ms}))
            }),
            TestHook::FailAlarm => self.step(|l, _| {
                l.fail_next_alarm = true;
                Answer::Json(json!({"hook": "fail-alarm"}))
            }),
            TestHook::Memory => self.step(|l, _| {
                Answer::Json(json!({
                    "object_wasm_bytes": runtime::wasm_memory_bytes(),
                    "sessions": l.core.local_counts().sessions,
                    "sockets": l.core.socket_count(),
                    "rows_written": l.storage.rows_written(),
                    "history_rows_written": l.storage.history_rows_written(),
                    "loaded_at": l.loaded_at,
                }))
            }),
        }
    }
}
