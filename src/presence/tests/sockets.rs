//! Sockets and the sessions they carry.

use super::*;

#[test]
fn a_clean_close_uncounts_at_once() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    close(&mut p, 0, 1);
    assert_eq!(p.site_counts(), counts(0, 0));
    assert_eq!(
        p.poll(0).writes,
        [],
        "a socket's anonymous session has no row"
    );
}

#[test]
fn a_socket_session_gets_a_row_when_it_needs_one() {
    // A page view: the socket is the session; its attachment keeps it through hibernation, so
    // neither its join nor its end is written (two billed rows per page view otherwise).
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    assert_eq!(p.poll(0).writes, []);
    p.socket_message(10, 1, Incoming::Text("ping"));
    assert_eq!(p.poll(10).writes, []);
    // an HTTP heartbeat of it: the hold must survive a restart, so the session is written...
    ping(&mut p, 20, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert!(
        matches!(p.poll(20).writes.as_slice(), [Write::Upsert { session, .. }] if session == "s1")
    );
    ping(&mut p, 30, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.poll(30).writes, [], "a heartbeat writes nothing");
    // ...and its end deleted
    p.socket_closed(40, 1, Closed::Clean);
    assert!(matches!(p.poll(40).writes.as_slice(), [Write::Delete { session }] if session == "s1"));
    // an entity's session over a socket is written as it starts and ends
    open(&mut p, 50, carrier_as(2, "s2", "user:1", 50)).unwrap();
    assert!(p
        .poll(50)
        .writes
        .iter()
        .any(|w| matches!(w, Write::Upsert { session, .. } if session == "s2")));
    close(&mut p, 60, 2);
    assert!(p
        .poll(60)
        .writes
        .iter()
        .any(|w| matches!(w, Write::Delete { session } if session == "s2")));
}

#[test]
fn a_session_over_http_and_a_socket_counts_once() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/", v(1), Event::Join).unwrap();
    open(&mut p, 10, carrier(1, "s1", 1, "/", 10)).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    ping(&mut p, 20, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    // the connection breaks (no close frame); the HTTP hold keeps it until its own ttl
    p.socket_closed(30, 1, Closed::Abnormal);
    assert_eq!(p.site_counts().sessions, 1);
    alarm(&mut p, 20 + TTL);
    assert_eq!(p.site_counts().sessions, 0);
    assert_consistent(&p);
}

#[test]
fn a_clean_close_ends_the_session_even_while_it_holds_an_http_heartbeat() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/", v(1), Event::Join).unwrap();
    open(&mut p, 10, carrier(1, "s1", 1, "/", 10)).unwrap();
    ping(&mut p, 20, "s1", "/", v(1), Event::Heartbeat).unwrap();
    for code in [1000, 1001] {
        assert_eq!(Closed::from_code(code), Closed::Clean);
    }
    for code in [1005, 1006, 1011, 4000] {
        assert_eq!(Closed::from_code(code), Closed::Abnormal);
    }
    close(&mut p, 30, 1);
    assert_eq!(p.site_counts(), counts(0, 0));
    assert!(!p.is_live("s1"));
    assert_eq!(p.poll(30).wake_at, None, "no hold left to expire");
    assert_consistent(&p);
}

#[test]
fn a_socket_session_without_http_ends_with_its_last_socket() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    open(&mut p, 5, carrier(2, "s1", 1, "/", 5)).unwrap(); // a reconnect overlapping the old socket
    assert_eq!(p.site_counts().sessions, 1);
    close(&mut p, 0, 1);
    assert_eq!(p.site_counts().sessions, 1);
    close(&mut p, 0, 2);
    assert_eq!(p.site_counts().sessions, 0);
}

#[test]
fn a_leave_ends_a_session_its_socket_carried() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    ping(&mut p, 10, "s1", "/", v(1), Event::Leave).unwrap();
    assert_eq!(p.site_counts().sessions, 0);
    assert_eq!(p.socket_count(), 1, "the socket stays, as a subscriber");
    close(&mut p, 0, 1);
    assert_eq!(p.site_counts().sessions, 0);
    assert_consistent(&p);
}

#[test]
fn socket_messages_are_signs_of_life_and_oversized_ones_close_the_socket() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    p.poll(0);
    p.socket_message(10_000, 1, Incoming::Text(" PING "));
    let fx = p.poll(10_000);
    assert_eq!(fx.sends.len(), 1);
    assert_eq!(
        (fx.sends[0].to.clone(), fx.sends[0].message.text()),
        (vec![1], "pong".into())
    );
    assert_eq!(
        fx.wake_at,
        Some(10_000 + TTL),
        "the message moved its deadline"
    );
    p.socket_message(11_000, 1, Incoming::Text("hello"));
    assert!(p.poll(11_000).sends.is_empty(), "other text is ignored");
    p.socket_message(12_000, 1, Incoming::Binary(MAX_SOCKET_MESSAGE_BYTES + 1));
    let fx = p.poll(12_000);
    assert_eq!(closed(&fx), vec![1]);
    assert_eq!(fx.closes[0].code, 1009);
    assert_eq!(p.site_counts().sessions, 0, "its session ended with it");
    p.socket_message(13_000, 1, Incoming::Text("ping"));
    assert!(
        p.poll(13_000).sends.is_empty(),
        "a closed socket is forgotten"
    );
}
