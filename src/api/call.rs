//! What the Worker asks a site's Durable Object, once a request is validated: one typed value,
//! serialized as JSON and carried base64url-encoded in the `herenow-call` header (a WebSocket
//! upgrade has no body, so every call travels the same way), after which of the site's objects
//! it is for (`index/count.`: one header to set and read per call; `src/runtime.js` sets and
//! reads it). The object decodes it and
//! never parses a query string or applies a default of its own.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{CountQuery, HistoryQuery, LiveQuery, MembersQuery, Ping, RoomsQuery, StatusQuery};

/// `index/count` (which of its site's objects a call is for, or the placement an object
/// stores); `None` when malformed.
pub fn parse_shard(header: &str) -> Option<(u32, u32)> {
    let (i, k) = header.trim().split_once('/')?;
    let (i, k) = (i.parse::<u32>().ok()?, k.parse::<u32>().ok()?);
    ((1..=64).contains(&k) && i < 64).then_some((i, k))
}

/// The name of object `shard` of `site`: the site itself for the coordinator.
pub fn object_name(site: &str, shard: u32) -> String {
    if shard == 0 {
        site.to_owned()
    } else {
        format!("{site}#{shard}")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteCall {
    Ping(Ping),
    Count(CountQuery),
    Rooms(RoomsQuery),
    Status(StatusQuery),
    Members(MembersQuery),
    History(HistoryQuery),
    /// A WebSocket upgrade (the request carries the upgrade headers).
    Live(LiveQuery),
    /// Test hooks (the `test-hooks` feature, routed only with `HERENOW_TEST_HOOKS`).
    #[cfg(feature = "test-hooks")]
    Test {
        site: String,
        hook: TestHook,
    },
}

/// Fault injection and measurement for the integration tests, the soak run and the bench.
#[cfg(feature = "test-hooks")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestHook {
    /// Move the object's clock by `offset_ms` from the real time (history across hours).
    Clock { offset_ms: i64 },
    /// Panic inside the object (the Wasm instance resets).
    Panic,
    /// Make the object's next alarm fail (the runtime retries it).
    FailAlarm,
    /// The object's Wasm memory, sessions, sockets and storage rows written.
    Memory,
}

/// What the test hooks answer (never in a deploy).
#[cfg(feature = "test-hooks")]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HookAnswer {
    /// The object's Wasm memory, sessions, sockets and storage rows written (and the Worker's
    /// Wasm memory, added by the Worker).
    Memory {
        object_wasm_bytes: u64,
        sessions: u32,
        sockets: u32,
        rows_written: u64,
        history_rows_written: u64,
        loaded_at: u64,
        /// `/v1/count` reads that reached the object.
        #[serde(default)]
        count_reads: u64,
        /// `setAlarm` calls (each billed as a row written).
        #[serde(default)]
        alarms_set: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker_wasm_bytes: Option<u64>,
    },
    /// The clock moved by `offset_ms`.
    Clock { hook: String, offset_ms: i64 },
    /// Taken: `{"hook": name}`.
    Taken { hook: String },
}

impl SiteCall {
    /// The site the call is for.
    pub fn site(&self) -> &str {
        match self {
            SiteCall::Ping(p) => &p.site,
            SiteCall::Count(q) => &q.site,
            SiteCall::Rooms(q) => &q.site,
            SiteCall::Status(q) => &q.site,
            SiteCall::Members(q) => &q.site,
            SiteCall::History(q) => &q.site,
            SiteCall::Live(q) => &q.site,
            #[cfg(feature = "test-hooks")]
            SiteCall::Test { site, .. } => site,
        }
    }
}

/// A call as a header value: its JSON, base64url-encoded (serializing these plain types cannot
/// fail).
pub fn encode<T: Serialize>(call: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(call).unwrap_or_default())
}

/// A call's header value: `index/count.` (the object it is for: `shard` of `shards`), then
/// the call, base64url-encoded JSON (whose alphabet has neither `/` nor `.`).
pub fn encode_for<T: Serialize>((shard, shards): (u32, u32), call: &T) -> String {
    format!("{shard}/{shards}.{}", encode(call))
}

/// The placement and the call of a header value written by [`encode_for`]; `None` when it is
/// not one.
pub fn decode_for<T: serde::de::DeserializeOwned>(header: &str) -> Option<((u32, u32), T)> {
    let (placement, call) = header.trim().split_once('.')?;
    Some((parse_shard(placement)?, decode(call)?))
}

/// A call from a header value; `None` when it is not one.
pub fn decode<T: serde::de::DeserializeOwned>(header: &str) -> Option<T> {
    let json = URL_SAFE_NO_PAD.decode(header.trim()).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PingEvent;

    #[test]
    fn a_call_survives_the_trip_and_never_carries_a_token() {
        let calls = [
            SiteCall::Ping(Ping {
                site: "s".into(),
                room: "/prix – été".into(),
                session: "abcdefgh".into(),
                visitor: None,
                event: PingEvent::Join,
                entity: Some("user:1".into()),
                token: Some("secret.jwt.value".into()),
                info: Some(r#"{"name":"Ada"}"#.into()),
                address: Some("203.0.113.7".into()),
                signal: None,
            }),
            SiteCall::Live(LiveQuery {
                site: "s".into(),
                room: None,
                session: Some("abcdefgh".into()),
                visitor: Some("vvvvvvvv".into()),
                entity: None,
                watch: vec!["user:1".into(), "user:2".into()],
                members: Some("/docs".into()),
                token: Some("secret.jwt.value".into()),
                info: None,
                address: None,
                grant: None,
            }),
            SiteCall::Rooms(RoomsQuery {
                site: "s".into(),
                limit: 7,
            }),
        ];
        for call in calls {
            let header = encode(&call);
            assert!(header.is_ascii(), "a header value is ASCII");
            let back: SiteCall = decode(&header).unwrap();
            assert!(!String::from_utf8(URL_SAFE_NO_PAD.decode(&header).unwrap())
                .unwrap()
                .contains("secret"));
            match (&call, &back) {
                (SiteCall::Ping(a), SiteCall::Ping(b)) => {
                    assert_eq!(
                        (&a.room, &a.entity, &a.info, &b.token),
                        (&b.room, &b.entity, &b.info, &None)
                    )
                }
                (SiteCall::Live(a), SiteCall::Live(b)) => {
                    assert_eq!(
                        (&a.watch, &a.members, &b.token),
                        (&b.watch, &b.members, &None)
                    )
                }
                _ => assert_eq!(call, back),
            }
        }
        assert_eq!(decode::<SiteCall>("not base64 json"), None);
        assert_eq!(decode::<SiteCall>(""), None);
    }

    #[test]
    fn a_header_value_carries_the_object_and_the_call() {
        let call = SiteCall::Rooms(RoomsQuery {
            site: "s".into(),
            limit: 7,
        });
        let header = encode_for((3, 8), &call);
        assert!(header.starts_with("3/8."), "{header}");
        assert_eq!(decode_for::<SiteCall>(&header), Some(((3, 8), call)));
        for bad in [
            "",
            "3/8",
            "3/8.",
            "x/8.e30",
            "9/8.",
            "64/65.e30",
            &encode(&1),
        ] {
            assert_eq!(decode_for::<SiteCall>(bad), None, "{bad:?}");
        }
    }
}
