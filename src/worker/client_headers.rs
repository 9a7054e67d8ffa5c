//! A client's request headers, as the Worker's checks read them. The five that every ping reads
//! (its length and type, `Origin`, the client's address, `User-Agent`) are read at once, in one
//! call into JS (`src/runtime.js`), when the request arrives: five `Headers.get` from Wasm were
//! five round trips through the Wasm memory, about 4% of a heartbeat's workerd CPU in a profile.
//! Any other header is read when asked.

use wasm_bindgen::prelude::wasm_bindgen;
use worker::web_sys;

#[wasm_bindgen(module = "/src/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = usualHeaders)]
    fn usual_headers(headers: &web_sys::Headers) -> String;
}

/// The headers read at once, in `usualHeaders`' order (lower case, as `Headers` names them).
const USUAL: [&str; 5] = [
    "content-length",
    "origin",
    "cf-connecting-ip",
    "content-type",
    "user-agent",
];

/// What `usualHeaders` writes for a header the request does not have.
const ABSENT: &str = "\0";

pub struct ClientHeaders {
    headers: web_sys::Headers,
    usual: [Option<String>; USUAL.len()],
}

impl ClientHeaders {
    pub fn read(headers: web_sys::Headers) -> ClientHeaders {
        let joined = usual_headers(&headers);
        let mut split = joined.split('\n');
        let parts: [Option<&str>; USUAL.len()] = std::array::from_fn(|_| split.next());
        // Header values hold no "\n" (the runtime's parser ends a line there, `Headers` refuses
        // it); should one ever, each header is read on its own, so that no value can take the
        // place of another (the client's address keys the rate limit).
        let usual = if split.next().is_none() && parts.iter().all(Option::is_some) {
            parts.map(|v| v.filter(|v| *v != ABSENT).map(str::to_owned))
        } else {
            USUAL.map(|name| headers.get(name).ok().flatten())
        };
        ClientHeaders { headers, usual }
    }

    /// The header's value (names are case-insensitive); `None` when the request has none.
    pub fn get(&self, name: &str) -> Option<String> {
        match USUAL.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(i) => self.usual[i].clone(),
            None => self.headers.get(name).ok().flatten(),
        }
    }
}
