//! The per-site Durable Object: a thin adapter that feeds requests, socket events and alarms
//! to the presence core and carries out what it answers (SQLite writes, socket sends and
//! closes, the next alarm).
//!
//! What survives a restart: session rows (joins and ends only; heartbeats write nothing), the
//! visitor-hash salt, and each socket's attachment. Everything else is rebuilt on load.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

use crate::api::{ApiError, CountQuery, LiveQuery, Ping, RoomsQuery, DEFAULT_ROOM};
use crate::config::{limits_from_vars, Timing};
use crate::entities::EntityStatus;
use crate::presence::{
    Config, Millis, Presence, Refusal, Snapshot, SocketId, SocketSession, SocketSpec,
    StoredSession, Write,
};

/// The largest message a socket may send (clients send `ping`); larger ones close it.
const MAX_SOCKET_MESSAGE_BYTES: usize = 1024;
use crate::visitor::{from_hex, to_hex, visitor_key};

#[wasm_bindgen]
extern "C" {
    /// The raw `DurableObjectState`, for what workers-rs 0.8.7 does not wrap.
    type RawState;

    /// `state.getWebSocketAutoResponseTimestamp(ws)`: when the runtime last answered this
    /// socket's `ping` without waking us (a `Date`, or null).
    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    fn get_websocket_auto_response_timestamp(
        this: &RawState,
        ws: &worker::web_sys::WebSocket,
    ) -> std::result::Result<JsValue, JsValue>;
}

/// What a socket carries through hibernation and restarts.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Attachment {
    /// The socket id, in hex.
    id: String,
    session: Option<String>,
    /// The hashed visitor of the session.
    visitor: Option<String>,
    /// The session's room.
    room: String,
    /// The room the socket named, whose counts it receives.
    view: Option<String>,
    /// The entity the session carries.
    #[serde(default)]
    entity: Option<String>,
    /// The entities whose status the socket receives.
    #[serde(default)]
    watch: Vec<String>,
    opened_at: f64,
}

impl Attachment {
    fn spec(&self, seen_at: Millis) -> Option<SocketSpec> {
        let id = u64::from_str_radix(&self.id, 16).ok()?;
        let session = match (&self.session, &self.visitor) {
            (Some(s), Some(v)) => Some(SocketSession {
                session: s.clone(),
                visitor: from_hex(v)?,
                room: self.room.clone(),
                entity: self.entity.clone(),
            }),
            _ => None,
        };
        Some(SocketSpec {
            id,
            session,
            view: self.view.clone(),
            watch: self.watch.clone(),
            seen_at: seen_at.max(self.opened_at as Millis),
        })
    }
}

struct Loaded {
    core: Presence,
    timing: Timing,
    salt: Vec<u8>,
    sockets: HashMap<SocketId, WebSocket>,
    /// The alarm we set and that has not fired yet.
    alarm_at: Option<Millis>,
    /// Test hook: the next alarm fails (so that the runtime retries it).
    fail_next_alarm: bool,
}

#[durable_object]
pub struct SitePresence {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
}

fn now() -> Millis {
    worker::Date::now().as_millis()
}

/// The size of this Wasm instance's linear memory (it grows, never shrinks): the soak run
/// watches it to tell a leak in our code from the local runtime's own growth.
pub(crate) fn wasm_memory_bytes() -> usize {
    core::arch::wasm32::memory_size::<0>() * 65_536
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // getrandom reads crypto.getRandomValues; it does not fail in Workers. Fall back to the
    // clock rather than panic.
    if getrandom::fill(&mut b).is_err() {
        return now() ^ 0x9e37_79b9_7f4a_7c15;
    }
    u64::from_le_bytes(b)
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

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.ensure_loaded()?;
        let url = req.url()?;
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let q = |k: &str| query.get(k).cloned();
        let resp = match url.path() {
            "/ping" => {
                let ping: Ping = req.json().await?;
                self.ping(ping)
            }
            "/count" => {
                let cq = CountQuery {
                    site: q("site").unwrap_or_default(),
                    room: q("room"),
                };
                self.count(cq)
            }
            "/rooms" => {
                let rq = RoomsQuery {
                    site: q("site").unwrap_or_default(),
                    limit: q("limit").and_then(|l| l.parse().ok()).unwrap_or(20),
                };
                self.rooms(rq)
            }
            "/live" => {
                let lq = LiveQuery {
                    site: q("site").unwrap_or_default(),
                    room: q("room"),
                    session: q("session"),
                    visitor: q("visitor"),
                    entity: q("entity"),
                    watch: split_list(q("watch")),
                    token: None,
                };
                self.live(lq)
            }
            "/status" => self.status(&split_list(q("entity"))),
            // Fault injection for the integration tests; the Worker only routes these when
            // the HERENOW_TEST_HOOKS var is set.
            "/test/panic" => panic!("test hook: a panic inside the Durable Object"),
            "/test/fail-alarm" => {
                if let Some(l) = self.loaded.borrow_mut().as_mut() {
                    l.fail_next_alarm = true;
                }
                Response::ok("the next alarm fails")
            }
            "/test/memory" => {
                let (sessions, sockets) = self.loaded.borrow().as_ref().map_or((0, 0), |l| {
                    (l.core.site_counts().sessions, l.core.socket_count())
                });
                Response::from_json(&json!({
                    "object_wasm_bytes": wasm_memory_bytes(),
                    "sessions": sessions,
                    "sockets": sockets,
                }))
            }
            _ => Response::error("not found", 404),
        };
        self.arm_alarm().await?;
        resp
    }

    async fn alarm(&self) -> Result<Response> {
        self.ensure_loaded()?;
        {
            let mut guard = self.loaded.borrow_mut();
            let Some(l) = guard.as_mut() else {
                return Response::ok("not loaded");
            };
            l.alarm_at = None;
            if std::mem::take(&mut l.fail_next_alarm) {
                return Err(worker::Error::RustError(
                    "test hook: this alarm fails".into(),
                ));
            }
            let now = now();
            // Refresh the last ping time of sockets close to their silence deadline, in one
            // batch, so a healthy socket costs one check per ttl/2 at most.
            let horizon = now + l.timing.ttl_ms / 2;
            for id in l.core.sockets_due(horizon) {
                if let Some(ws) = l.sockets.get(&id) {
                    if let Some(t) = self.auto_response_time(ws) {
                        l.core.socket_seen(id, t);
                    }
                }
            }
            let closed = l.core.expire(now);
            for id in closed {
                if let Some(ws) = l.sockets.remove(&id) {
                    let _ = ws.close(Some(1001), Some("silent for longer than the ttl"));
                }
            }
            self.carry_out(l, now)?;
        }
        self.arm_alarm().await?;
        Response::ok("ok")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let size = match &message {
            WebSocketIncomingMessage::String(t) => t.len(),
            WebSocketIncomingMessage::Binary(b) => b.len(),
        };
        self.with_socket(&ws, |l, now, id| {
            if size > MAX_SOCKET_MESSAGE_BYTES {
                let _ = ws.close(Some(1009), Some("message too big"));
                l.sockets.remove(&id);
                l.core.socket_close(now, id);
                return;
            }
            l.core.socket_seen(id, now);
            if let WebSocketIncomingMessage::String(text) = &message {
                if text.trim().eq_ignore_ascii_case("ping") {
                    let _ = ws.send_with_str("pong");
                }
            }
        })?;
        self.arm_alarm().await
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        self.socket_gone(&ws)?;
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(1000), Some("closed"));
        self.arm_alarm().await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.socket_gone(&ws)?;
        self.arm_alarm().await
    }
}

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment::<Attachment>().ok().flatten()
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    room: String,
    visitor: String,
    entity: Option<String>,
    entity_last_seen: Option<f64>,
    joined_at: f64,
    restored_at: Option<f64>,
}

#[derive(Deserialize)]
struct LastSeenRow {
    last_seen: f64,
}

#[derive(Deserialize)]
struct MetaRow {
    value: String,
}

impl SitePresence {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Builds the in-memory state on first use after construction (a fresh start, a restart,
    /// or a wake from hibernation): schema, salt, stored sessions, open sockets.
    fn ensure_loaded(&self) -> Result<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let now = now();
        let timing = Timing::from_vars(|name| {
            self.env
                .var(name)
                .ok()
                .map(|v| v.to_string())
                .filter(|s| !s.is_empty())
        });
        let sql = self.sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                room TEXT NOT NULL,
                visitor TEXT NOT NULL,
                joined_at INTEGER NOT NULL,
                restored_at INTEGER
            )",
            None,
        )?;
        // Sessions stored before entities existed get the column (an error means it is there).
        let _ = sql.exec("ALTER TABLE sessions ADD COLUMN entity TEXT", None);
        sql.exec(
            "CREATE TABLE IF NOT EXISTS entities (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        let salt = self.salt(&sql)?;
        let rows: Vec<SessionRow> = sql
            .exec(
                "SELECT s.id, s.room, s.visitor, s.entity, s.joined_at, s.restored_at,
                        e.last_seen AS entity_last_seen
                 FROM sessions s LEFT JOIN entities e ON e.id = s.entity",
                None,
            )?
            .to_array()?;
        let stored = rows
            .into_iter()
            .filter_map(|r| {
                Some(StoredSession {
                    visitor: from_hex(&r.visitor)?,
                    entity: r.entity,
                    entity_last_seen: r.entity_last_seen.map(|t| t as Millis),
                    session: r.id,
                    room: r.room,
                    joined_at: r.joined_at as Millis,
                    restored_at: r.restored_at.map(|t| t as Millis),
                })
            })
            .collect();
        let mut sockets = HashMap::new();
        let mut specs = Vec::new();
        for ws in self.state.get_websockets() {
            let seen = self.auto_response_time(&ws).unwrap_or(0);
            match attachment(&ws).and_then(|a| a.spec(seen)) {
                Some(spec) => {
                    sockets.insert(spec.id, ws);
                    specs.push(spec);
                }
                None => {
                    let _ = ws.close(Some(1011), Some("lost its state"));
                }
            }
        }
        let var = |name: &str| self.env.var(name).ok().map(|v| v.to_string());
        let mut core = Presence::new(Config {
            ttl_ms: timing.ttl_ms,
            broadcast_interval_ms: timing.broadcast_interval_ms,
            leave_grace_ms: timing.leave_grace_ms,
            limits: limits_from_vars(var),
        });
        core.restore(now, stored, specs);
        let mut l = Loaded {
            core,
            timing,
            salt,
            sockets,
            alarm_at: None,
            fail_next_alarm: false,
        };
        self.carry_out(&mut l, now)?;
        *self.loaded.borrow_mut() = Some(l);
        Ok(())
    }

    fn salt(&self, sql: &SqlStorage) -> Result<Vec<u8>> {
        let rows: Vec<MetaRow> = sql
            .exec("SELECT value FROM meta WHERE key = 'salt'", None)?
            .to_array()?;
        if let Some(r) = rows.first() {
            return Ok(r.value.as_bytes().to_vec());
        }
        let salt = format!("{:016x}{:016x}", random_u64(), random_u64());
        sql.exec(
            "INSERT INTO meta (key, value) VALUES ('salt', ?)",
            vec![SqlStorageValue::from(salt.as_str())],
        )?;
        Ok(salt.into_bytes())
    }

    fn auto_response_time(&self, ws: &WebSocket) -> Option<Millis> {
        let v = self
            .state
            .as_raw()
            .unchecked_ref::<RawState>()
            .get_websocket_auto_response_timestamp(ws.as_ref())
            .ok()?;
        v.dyn_ref::<worker::js_sys::Date>()
            .map(|d| d.get_time() as Millis)
    }

    /// Carries out what the core asks: storage writes, then count messages.
    fn carry_out(&self, l: &mut Loaded, now: Millis) -> Result<()> {
        let sql = self.sql();
        for w in l.core.take_writes() {
            match w {
                Write::Upsert {
                    session,
                    room,
                    visitor,
                    entity,
                    joined_at,
                } => {
                    sql.exec(
                        "INSERT OR REPLACE INTO sessions
                           (id, room, visitor, entity, joined_at, restored_at)
                         VALUES (?, ?, ?, ?, ?, NULL)",
                        vec![
                            session.into(),
                            room.into(),
                            to_hex(visitor).into(),
                            entity.map_or(SqlStorageValue::Null, SqlStorageValue::from),
                            SqlStorageValue::Float(joined_at as f64),
                        ],
                    )?;
                }
                Write::EntitySeen { entity, last_seen } => {
                    sql.exec(
                        "INSERT INTO entities (id, last_seen) VALUES (?, ?)
                         ON CONFLICT (id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
                        vec![entity.into(), SqlStorageValue::Float(last_seen as f64)],
                    )?;
                }
                Write::Delete { session } => {
                    sql.exec("DELETE FROM sessions WHERE id = ?", vec![session.into()])?;
                }
                Write::Confirm { session } => {
                    sql.exec(
                        "UPDATE sessions SET restored_at = NULL WHERE id = ?",
                        vec![session.into()],
                    )?;
                }
                Write::MarkRestored { at, sessions } => {
                    for s in sessions {
                        sql.exec(
                            "UPDATE sessions SET restored_at = ? WHERE id = ?",
                            vec![SqlStorageValue::Float(at as f64), s.into()],
                        )?;
                    }
                }
            }
        }
        for b in l.core.flush(now) {
            let msg = count_message(
                &Snapshot {
                    site: b.site,
                    room: b.room,
                },
                None,
            );
            for id in b.sockets {
                if let Some(ws) = l.sockets.get(&id) {
                    let _ = ws.send_with_str(&msg);
                }
            }
        }
        for b in l.core.take_status() {
            let msg = status_message(&b.entity, &b.status);
            for id in b.sockets {
                if let Some(ws) = l.sockets.get(&id) {
                    let _ = ws.send_with_str(&msg);
                }
            }
        }
        Ok(())
    }

    /// An entity's status: from memory when online or in its grace, else from storage.
    fn entity_status(&self, l: &Loaded, entity: &str) -> Result<EntityStatus> {
        if let Some(s) = l.core.entity_status(entity) {
            return Ok(s);
        }
        let rows: Vec<LastSeenRow> = self
            .sql()
            .exec(
                "SELECT last_seen FROM entities WHERE id = ?",
                vec![entity.into()],
            )?
            .to_array()?;
        Ok(EntityStatus::offline(
            rows.first().map(|r| r.last_seen as Millis),
        ))
    }

    fn status(&self, entities: &[String]) -> Result<Response> {
        let body = self.with_loaded(|l, _| {
            let mut map = serde_json::Map::new();
            for e in entities {
                map.insert(e.clone(), json!(self.entity_status(l, e)?));
            }
            Ok(json!({ "entities": map }))
        })?;
        Response::from_json(&body)
    }

    /// Sets the alarm to the core's next wake-up when that is earlier than the one set.
    async fn arm_alarm(&self) -> Result<()> {
        let target = {
            let mut guard = self.loaded.borrow_mut();
            let Some(l) = guard.as_mut() else {
                return Ok(());
            };
            match l.core.next_wake() {
                Some(w) if l.alarm_at.is_none_or(|a| w < a) => {
                    l.alarm_at = Some(w);
                    Some(w)
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

    fn socket_gone(&self, ws: &WebSocket) -> Result<()> {
        self.with_socket(ws, |l, now, id| {
            l.sockets.remove(&id);
            l.core.socket_close(now, id);
        })
    }

    /// Runs `f` on the loaded state for the socket `ws` (by its attachment's id), then
    /// carries out what the core asks. A socket without a readable attachment is ignored.
    fn with_socket(
        &self,
        ws: &WebSocket,
        f: impl FnOnce(&mut Loaded, Millis, SocketId),
    ) -> Result<()> {
        self.ensure_loaded()?;
        let now = now();
        let Some(spec) = attachment(ws).and_then(|a| a.spec(now)) else {
            return Ok(());
        };
        let mut guard = self.loaded.borrow_mut();
        let Some(l) = guard.as_mut() else {
            return Ok(());
        };
        f(l, now, spec.id);
        self.carry_out(l, now)
    }

    fn with_loaded<T>(&self, f: impl FnOnce(&mut Loaded, Millis) -> Result<T>) -> Result<T> {
        let mut guard = self.loaded.borrow_mut();
        let l = guard
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("state not loaded".into()))?;
        let now = now();
        let out = f(l, now)?;
        self.carry_out(l, now)?;
        Ok(out)
    }

    fn ping(&self, p: Ping) -> Result<Response> {
        let body = self.with_loaded(|l, now| {
            let key = visitor_key(&l.salt, p.visitor.as_deref(), &p.session);
            let entity = p.entity.as_deref();
            let snap = l
                .core
                .ping_as(now, &p.session, &p.room, key, p.event.into(), entity);
            Ok(snap.map(|snap| {
                json!({
                    "site": snap.site,
                    "room": snap.room,
                    "heartbeat_ms": l.timing.heartbeat_ms,
                    "ttl_ms": l.timing.ttl_ms,
                })
            }))
        })?;
        match body {
            Ok(body) => Response::from_json(&body),
            Err(r) => refusal(r),
        }
    }

    fn count(&self, q: CountQuery) -> Result<Response> {
        let body = self.with_loaded(|l, _| {
            let snap = l.core.snapshot(q.room.as_deref());
            Ok(match snap.room {
                Some(room) => json!({"site": snap.site, "room": room}),
                None => json!({"site": snap.site}),
            })
        })?;
        Response::from_json(&body)
    }

    fn rooms(&self, q: RoomsQuery) -> Result<Response> {
        let body = self.with_loaded(|l, _| {
            Ok(json!({"site": l.core.site_counts(), "rooms": l.core.top_rooms(q.limit)}))
        })?;
        Response::from_json(&body)
    }

    fn live(&self, q: LiveQuery) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        let id = random_u64() & 0x000f_ffff_ffff_ffff;
        let id_hex = format!("{id:x}");
        let first = self.with_loaded(|l, now| {
            let session = q.session.as_ref().map(|s| SocketSession {
                session: s.clone(),
                visitor: visitor_key(&l.salt, q.visitor.as_deref(), s),
                room: q.room.clone().unwrap_or_else(|| DEFAULT_ROOM.to_owned()),
                entity: q.entity.clone(),
            });
            let att = Attachment {
                id: id_hex.clone(),
                session: session.as_ref().map(|s| s.session.clone()),
                visitor: session.as_ref().map(|s| to_hex(s.visitor)),
                room: session
                    .as_ref()
                    .map(|s| s.room.clone())
                    .unwrap_or_else(|| DEFAULT_ROOM.to_owned()),
                view: q.room.clone(),
                entity: q.entity.clone(),
                watch: q.watch.clone(),
                opened_at: now as f64,
            };
            let socket_tag = format!("socket:{id_hex}");
            let session_tag = session.as_ref().map(|s| format!("session:{}", s.session));
            let mut tags: Vec<&str> = vec![&socket_tag];
            if let Some(t) = &session_tag {
                tags.push(t);
            }
            let snap = match l.core.socket_open(
                now,
                SocketSpec {
                    id,
                    session,
                    view: q.room.clone(),
                    watch: q.watch.clone(),
                    seen_at: now,
                },
            ) {
                Ok(snap) => snap,
                Err(r) => return Ok(Err(r)),
            };
            self.state.accept_websocket_with_tags(&server, &tags);
            server.serialize_attachment(&att)?;
            l.sockets.insert(id, server.clone());
            let mut first = vec![count_message(&snap, Some(&l.timing))];
            for e in &q.watch {
                first.push(status_message(e, &self.entity_status(l, e)?));
            }
            Ok(Ok(first))
        })?;
        let first = match first {
            Ok(first) => first,
            Err(r) => return refusal(r),
        };
        for msg in first {
            let _ = server.send_with_str(&msg);
        }
        Response::from_websocket(pair.client)
    }
}

/// The contract error for a refusal of the core.
fn refusal(r: Refusal) -> Result<Response> {
    let e = match r {
        Refusal::SiteFull => ApiError::site_full(),
        Refusal::TooManySockets => ApiError::too_many_sockets(),
    };
    let headers = worker::Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    Ok(Response::ok(e.body())?
        .with_status(e.status)
        .with_headers(headers))
}

/// `{"type":"status","entity":..,"online":..,"sessions":..,"last_seen":..}`
fn status_message(entity: &str, s: &EntityStatus) -> String {
    json!({
        "type": "status",
        "entity": entity,
        "online": s.online,
        "sessions": s.sessions,
        "last_seen": s.last_seen,
    })
    .to_string()
}

/// `{"type":"count","site":{..},"room":{..}}`; the first message of a socket also tells the
/// heartbeat and ttl, so a client knows how often to ping.
fn count_message(snap: &Snapshot, timing: Option<&Timing>) -> String {
    let mut v = json!({"type": "count", "site": snap.site});
    if let Some(room) = &snap.room {
        v["room"] = json!(room);
    }
    if let Some(t) = timing {
        v["heartbeat_ms"] = json!(t.heartbeat_ms);
        v["ttl_ms"] = json!(t.ttl_ms);
    }
    v.to_string()
}
