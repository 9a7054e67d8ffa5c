//! The request headers the API reads, parsed from plain strings so they are tested natively:
//! the bearer token, the declared body length, the WebSocket upgrade, the ping's content type,
//! and the client address.

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

/// The client address of a request, from `CF-Connecting-IP` (Cloudflare sets it; a client
/// cannot): an IPv4 address as it is, an IPv6 address by its /64 (one household or phone holds
/// a whole /64), e.g. `2001:db8:1:2::/64`. Without the header (only outside Cloudflare, e.g.
/// local tests that do not set it) every request is the one address `unknown`.
pub fn client_address(connecting_ip: Option<&str>) -> String {
    let Some(ip) = connecting_ip.map(str::trim).filter(|ip| !ip.is_empty()) else {
        return "unknown".to_owned();
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        // not an address: kept as it came (bounded), still one key
        Err(_) => ip.chars().take(64).collect(),
    }
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

    #[test]
    fn an_ipv6_address_is_its_64_and_an_ipv4_one_itself() {
        assert_eq!(client_address(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_address(Some(" 203.0.113.7 ")), "203.0.113.7");
        let a = client_address(Some("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        let b = client_address(Some("2001:0db8:0001:0002::1"));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b, "one /64, one address");
        assert_ne!(a, client_address(Some("2001:db8:1:3::1")), "another /64");
        assert_eq!(client_address(Some("::ffff:198.51.100.9")), "198.51.100.9");
        assert_eq!(client_address(None), "unknown");
        assert_eq!(client_address(Some("")), "unknown");
        assert_eq!(client_address(Some(&"x".repeat(200))).len(), 64);
    }
}
