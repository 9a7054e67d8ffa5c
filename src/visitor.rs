//! Visitor ids are kept hashed, never raw: SHA-256 over a per-site random salt and the id,
//! cut to 64 bits (ample to tell a site's visitors apart; not reversible without the salt,
//! which never leaves the site's Durable Object).

use sha2::{Digest, Sha256};

use crate::presence::{AddressKey, VisitorKey};

/// The key of a visitor; a session without a visitor counts as its own visitor.
pub fn visitor_key(salt: &[u8], visitor: Option<&str>, session: &str) -> VisitorKey {
    VisitorKey(match visitor {
        Some(v) => keyed(salt, b"v:", v),
        None => keyed(salt, b"s:", session),
    })
}

/// The key of a client address (as `api::headers::client_address` gives it): hashed like a
/// visitor, never kept raw; never [`AddressKey::UNKNOWN`].
pub fn address_key(salt: &[u8], address: Option<&str>) -> AddressKey {
    AddressKey(keyed(salt, b"a:", address.unwrap_or("unknown")).max(1))
}

/// SHA-256 over the salt, a kind and an id, cut to 64 bits.
fn keyed(salt: &[u8], kind: &[u8], id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update((salt.len() as u32).to_be_bytes());
    h.update(salt);
    h.update(kind);
    h.update(id.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// A key as 16 hex digits, for storage (SQLite and JS numbers cannot hold all 64 bits).
pub fn to_hex(k: VisitorKey) -> String {
    format!("{:016x}", k.0)
}

pub fn from_hex(s: &str) -> Option<VisitorKey> {
    (s.len() == 16)
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
        .map(VisitorKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_visitor_same_key_and_salted() {
        let a = visitor_key(b"salt", Some("v_12345678"), "s_aaaaaaaa");
        let b = visitor_key(b"salt", Some("v_12345678"), "s_bbbbbbbb");
        assert_eq!(a, b);
        assert_ne!(a, visitor_key(b"other", Some("v_12345678"), "s_aaaaaaaa"));
    }

    #[test]
    fn a_session_without_visitor_is_its_own_visitor() {
        let a = visitor_key(b"salt", None, "s_aaaaaaaa");
        assert_ne!(a, visitor_key(b"salt", None, "s_bbbbbbbb"));
        // "v:x" and "s:x" never collide by construction
        assert_ne!(a, visitor_key(b"salt", Some("s_aaaaaaaa"), "zzzzzzzz"));
    }

    #[test]
    fn hex_round_trips() {
        let k = visitor_key(b"s", Some("v_12345678"), "x");
        assert_eq!(from_hex(&to_hex(k)), Some(k));
        assert_eq!(from_hex("xyz"), None);
    }
}
