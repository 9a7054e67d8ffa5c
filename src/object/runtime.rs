//! What the object needs from the runtime beyond workers-rs: the clock, randomness, the time
//! the runtime last auto-answered a socket's `ping`, and the size of our Wasm memory.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{State, WebSocket};

use crate::presence::Millis;

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

#[wasm_bindgen]
extern "C" {
    /// A WebSocket, for a `send` of a JS string made once for all its receivers.
    type RawSocket;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_js(
        this: &RawSocket,
        data: &worker::js_sys::JsString,
    ) -> std::result::Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = deserializeAttachment)]
    fn deserialize_attachment_js(this: &RawSocket) -> std::result::Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = serializeAttachment)]
    fn serialize_attachment_js(this: &RawSocket, value: &str) -> std::result::Result<(), JsValue>;
}

/// Keeps `text` as the socket's attachment (a JS string; see [`attachment_text`]).
pub fn set_attachment_text(ws: &WebSocket, text: &str) -> worker::Result<()> {
    Ok(raw_socket(ws).serialize_attachment_js(text)?)
}

/// The text a socket carries as its attachment, if it is one: read as the string it is
/// (workers-rs's `deserialize_attachment` goes through serde-wasm-bindgen, several calls more
/// per socket, and a wake-up reads thousands).
pub fn attachment_text(ws: &WebSocket) -> Option<String> {
    raw_socket(ws).deserialize_attachment_js().ok()?.as_string()
}

/// The runtime's socket under workers-rs's wrapper, for the calls above.
fn raw_socket(ws: &WebSocket) -> &RawSocket {
    let raw: &worker::web_sys::WebSocket = ws.as_ref();
    raw.unchecked_ref::<RawSocket>()
}

/// One message for many sockets: the text becomes a JS string once (workers-rs's
/// `send_with_str` decodes it from Wasm memory again for every socket, which was most of a
/// broadcast's time to 10,000 sockets).
pub struct Outgoing(worker::js_sys::JsString);

impl Outgoing {
    pub fn new(text: &str) -> Self {
        Outgoing(worker::js_sys::JsString::from(text))
    }

    /// Sends it on `ws` (a socket closing meanwhile fails; its close event follows).
    pub fn send(&self, ws: &WebSocket) -> bool {
        raw_socket(ws).send_js(&self.0).is_ok()
    }
}

/// The runtime's clock in ms. `js_sys::Date::now()` is one call; `worker::Date::now()` makes a
/// JS `Date` object and reads it back (two calls and an object, several times per input).
pub fn now() -> Millis {
    worker::js_sys::Date::now() as Millis
}

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // getrandom reads crypto.getRandomValues; it does not fail in Workers. Fall back to the
    // clock rather than panic.
    if getrandom::fill(&mut b).is_err() {
        return now() ^ 0x9e37_79b9_7f4a_7c15;
    }
    u64::from_le_bytes(b)
}

/// When the runtime last answered `ws`'s `ping` on our behalf.
pub fn last_auto_pong(state: &State, ws: &WebSocket) -> Option<Millis> {
    let v = state
        .as_raw()
        .unchecked_ref::<RawState>()
        .get_websocket_auto_response_timestamp(ws.as_ref())
        .ok()?;
    v.dyn_ref::<worker::js_sys::Date>()
        .map(|d| d.get_time() as Millis)
}

/// The size of this Wasm instance's linear memory (it grows, never shrinks): the soak run and
/// the bench watch it to tell a leak in our code from the local runtime's own growth.
#[cfg(feature = "test-hooks")]
pub fn wasm_memory_bytes() -> usize {
    core::arch::wasm32::memory_size::<0>() * 65_536
}
