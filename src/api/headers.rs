//! The request headers the API reads, parsed from plain strings so they are tested natively:
//! the bearer token, the declared body length, the WebSocket upgrade and the ping's content type.

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, spaces trimmed).
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, rest) = authorization?.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a declared `Content-Length` is over `max`. An absent or unreadable one is not:
/// the body is then read with a cap anyway.
pub fn declares_more_than(content_length: Option<&str>, max: usize) -> bool {
    content_length
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > max as u64)
}

/// Whether `Upgrade` asks for a WebSocket.
pub fn is_websocket_upgrade(upgrade: Option<&str>) -> bool {
    upgrade.is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
}

/// Whether a ping may arrive with this `Content-Type` (absent, JSON, or the text/plain that
/// `navigator.sendBeacon` sends for a string).
pub fn ping_content_type_ok(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.eq_ignore_ascii_case("text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer(Some("Bearer abc.def.ghi")), Some("abc.def.ghi"));
        assert_eq!(bearer(Some("  bearer   abc  ")), Some("abc"));
        assert_eq!(bearer(Some("BEARER x")), Some("x"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc", ""] {
            assert_eq!(bearer(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn a_declared_length_over_the_cap_is_caught_and_junk_is_left_to_the_capped_read() {
        assert!(declares_more_than(Some("1025"), 1024));
        assert!(declares_more_than(Some(" 99999999999 "), 1024));
        assert!(!declares_more_than(Some("1024"), 1024));
        assert!(!declares_more_than(Some("abc"), 1024));
        assert!(!declares_more_than(Some("-1"), 1024));
        assert!(!declares_more_than(None, 1024));
    }

    #[test]
    fn only_a_websocket_upgrade_is_one() {
        assert!(is_websocket_upgrade(Some("websocket")));
        assert!(is_websocket_upgrade(Some("WebSocket")));
        assert!(!is_websocket_upgrade(Some("h2c")));
        assert!(!is_websocket_upgrade(Some("")));
        assert!(!is_websocket_upgrade(None));
    }

    #[test]
    fn beacon_and_json_content_types_are_accepted() {
        assert!(ping_content_type_ok(None));
        assert!(ping_content_type_ok(Some("application/json")));
        assert!(ping_content_type_ok(Some("text/plain;charset=UTF-8")));
        assert!(ping_content_type_ok(Some(
            "Application/JSON; charset=utf-8"
        )));
        assert!(!ping_content_type_ok(Some(
            "application/x-www-form-urlencoded"
        )));
        assert!(!ping_content_type_ok(Some(
            "multipart/form-data; boundary=x"
        )));
    }
}
