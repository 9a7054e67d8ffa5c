//! Expiry of HTTP holds and silent sockets.

use super::*;

#[test]
fn an_http_session_expires_one_ttl_after_its_last_heartbeat() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/", v(1), Event::Join).unwrap();
    ping(&mut p, 10_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.poll(10_000).wake_at, Some(10_000 + TTL));
    alarm(&mut p, 10_000 + TTL - 1);
    assert_eq!(
        p.site_counts().sessions,
        1,
        "still live one ms before its ttl"
    );
    let fx = alarm(&mut p, 10_000 + TTL);
    assert_eq!(p.site_counts().sessions, 0);
    assert!(matches!(fx.writes.last(), Some(Write::Delete { session }) if session == "s1"));
    assert_consistent(&p);
}

#[test]
fn next_wake_is_the_earliest_expiry() {
    let mut p = core();
    ping(&mut p, 0, "a", "/", v(1), Event::Join).unwrap();
    ping(&mut p, 5_000, "b", "/", v(2), Event::Join).unwrap();
    assert_eq!(p.poll(5_000).wake_at, Some(TTL));
    ping(&mut p, 6_000, "a", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.poll(6_000).wake_at, Some(5_000 + TTL));
}

#[test]
fn a_silent_socket_is_closed_one_ttl_after_its_last_ping() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    assert_eq!(p.site_counts().sessions, 1);
    p.socket_seen(1, 20_000);
    assert_eq!(p.poll(20_000).wake_at, Some(20_000 + TTL));
    assert!(closed(&alarm(&mut p, 20_000 + TTL - 1)).is_empty());
    let fx = alarm(&mut p, 20_000 + TTL);
    assert_eq!(closed(&fx), vec![1]);
    assert_eq!(
        (fx.closes[0].code, fx.closes[0].reason),
        (1001, SILENT_REASON)
    );
    assert_eq!(p.site_counts().sessions, 0);
    assert_eq!(p.socket_count(), 0);
    assert_consistent(&p);
}

#[test]
fn the_alarm_asks_the_runtime_for_pongs_only_near_a_deadline_and_keeps_answering_sockets() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    open(&mut p, 0, carrier(2, "s2", 2, "/", 0)).unwrap();
    p.socket_seen(2, 10_000);
    let mut asked = Vec::new();
    // at TTL / 2 + 1 only socket 1 (deadline TTL) is inside the horizon of half a ttl
    p.alarm(TTL / 2 + 1, |id| {
        asked.push(id);
        Some(TTL / 2)
    });
    assert_eq!(asked, vec![1]);
    // socket 1 answered pings: it lives past its first deadline; socket 2 did not
    let fx = alarm(&mut p, 10_000 + TTL);
    assert_eq!(closed(&fx), vec![2]);
    assert_eq!(p.socket_count(), 1);
}

#[test]
fn a_subscriber_that_never_pings_is_kept_much_longer_than_a_ttl() {
    let mut p = core();
    open(&mut p, 0, subscriber(9, None, 0)).unwrap();
    assert!(closed(&alarm(&mut p, TTL * 5)).is_empty());
    assert_eq!(
        closed(&alarm(&mut p, SUBSCRIBER_IDLE_MIN_MS.max(TTL * 20))),
        vec![9]
    );
}
