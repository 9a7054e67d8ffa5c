//! Hostile clients: what one client address can do is bounded, and what it is refused changes
//! nothing (the contract's "Hostile clients" and "Tokens on open sockets").

use super::*;

/// A ping from a given address (not the tests' one-address-per-visitor default).
fn ping_from(
    p: &mut Presence,
    now: Millis,
    session: &str,
    room: &str,
    address: u64,
) -> Result<Snapshot, Refusal> {
    p.ping(
        now,
        Ping {
            session,
            room,
            visitor: v(address * 1_000 + session.len() as u64),
            address: AddressKey(address),
            event: Event::Join,
            entity: None,
            info: None,
            signal: None,
        },
    )
}

#[test]
fn one_address_holds_at_most_its_sessions_and_the_others_are_still_counted() {
    let mut p = core();
    let max = Limits::default().max_sessions_per_address;
    for i in 0..max {
        ping_from(&mut p, 0, &format!("s_{i:04}"), "/", 7).unwrap();
    }
    p.poll(0);
    let refused = ping_from(&mut p, 10, "s_extra", "/", 7);
    assert_eq!(refused, Err(Refusal::TooManyFromAddress));
    assert_eq!(
        p.site_counts().sessions,
        max as u32,
        "the refused join counts nothing"
    );
    assert!(p.poll(10).writes.is_empty(), "nothing written for it");
    // what the address holds keeps counting (its heartbeats pass), another address joins
    let mut again = Ping {
        session: "s_0000",
        room: "/",
        visitor: v(7_000 + 6),
        address: AddressKey(7),
        event: Event::Heartbeat,
        entity: None,
        info: None,
        signal: None,
    };
    p.ping(20, again).unwrap();
    ping_from(&mut p, 20, "s_other", "/", 8).unwrap();
    assert_eq!(p.site_counts().sessions, max as u32 + 1);
    // a session that leaves frees a place for the address
    again.event = Event::Leave;
    p.ping(30, again).unwrap();
    ping_from(&mut p, 40, "s_extra", "/", 7).unwrap();
    assert_consistent(&p);
}

#[test]
fn one_address_holds_at_most_its_sockets() {
    let mut p = core();
    let max = Limits::default().max_sockets_per_address;
    let sub = |id: SocketId| SocketSpec {
        address: AddressKey(5),
        ..subscriber(id, None, 0)
    };
    for id in 0..max as SocketId {
        open(&mut p, 0, sub(id)).unwrap();
    }
    assert_eq!(open(&mut p, 0, sub(999)), Err(Refusal::TooManyFromAddress));
    assert_eq!(p.socket_count(), max);
    open(&mut p, 0, subscriber(1_000, None, 0)).unwrap();
    close(&mut p, 10, 3);
    open(&mut p, 10, sub(999)).unwrap();
    assert_eq!(p.socket_count(), max + 1);
}

#[test]
fn rooms_made_up_by_one_address_cannot_push_a_room_of_more_addresses_into_other() {
    let mut p = small(10_000, 20, 1_000);
    // 20 made-up rooms from one address fill every slot
    for i in 0..20 {
        ping_from(
            &mut p,
            0,
            &format!("junk{i:03}"),
            &format!("/junk/{i}"),
            666,
        )
        .unwrap();
    }
    assert_eq!(p.room_counts("/junk/0").sessions, 1);
    // a real room: two visitors from two other addresses
    ping_from(&mut p, 10, "real_a", "/pricing", 1).unwrap();
    let answer = ping_from(&mut p, 11, "real_b", "/pricing", 2).unwrap();
    assert_eq!(
        answer.room.as_ref().unwrap().grouped_as,
        None,
        "named at once"
    );
    assert_eq!(
        p.room_counts("/pricing"),
        RoomCounts::new("/pricing", counts(2, 2))
    );
    let junk_named = (0..20)
        .filter(|i| p.room_counts(&format!("/junk/{i}")).sessions == 1)
        .count();
    assert_eq!(junk_named, 19, "one made-up room gave its slot up");
    assert_eq!(p.room_counts(OVERFLOW_ROOM).sessions, 1);
    assert_eq!(p.site_counts().sessions, 22, "nothing dropped");
    // more junk from the same address changes nothing for the real room
    for i in 20..40 {
        ping_from(
            &mut p,
            20,
            &format!("junk{i:03}"),
            &format!("/junk/{i}"),
            666,
        )
        .unwrap();
    }
    assert_eq!(
        p.room_counts("/pricing"),
        RoomCounts::new("/pricing", counts(2, 2))
    );
    assert_consistent(&p);
}

#[test]
fn a_socket_sending_more_than_its_budget_is_closed_and_its_session_ends_as_after_a_break() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    // an HTTP hold too: a broken connection leaves it to run out
    ping(&mut p, 0, "s1", "/", v(1), Event::Heartbeat).unwrap();
    p.poll(0);
    for i in 0..20 {
        p.socket_message(100 + i, 1, Incoming::Text("back"));
        p.socket_message(100 + i, 1, Incoming::Text("ping"));
    }
    assert!(
        closed(&p.poll(200)).is_empty(),
        "20 in 10 s, and pings, are fine"
    );
    p.socket_message(300, 1, Incoming::Text("back"));
    let fx = p.poll(300);
    assert_eq!(
        fx.closes
            .iter()
            .map(|c| (c.socket, c.code, c.reason))
            .collect::<Vec<_>>(),
        [(1, 1008, "too_many_messages")]
    );
    assert!(
        p.is_live("s1"),
        "its HTTP hold still runs, as after an abnormal close"
    );
    // after 10 s a socket may send again
    open(&mut p, 400, subscriber(2, None, 400)).unwrap();
    for i in 0..20 {
        p.socket_message(400 + i, 2, Incoming::Text("away"));
    }
    for i in 0..20 {
        p.socket_message(10_500 + i, 2, Incoming::Text("away"));
    }
    assert!(
        closed(&p.poll(10_600)).is_empty(),
        "a window later, 20 more are fine"
    );
}

#[test]
fn a_socket_outliving_its_token_is_closed_4001_unless_renewed() {
    let mut p = core();
    let with_token = |id, until| SocketSpec {
        token_until: Some(until),
        ..carrier_as(id, &format!("s{id}"), "user:1", 0)
    };
    open(&mut p, 0, with_token(1, 60_000)).unwrap();
    open(&mut p, 0, with_token(2, 60_000)).unwrap();
    open(
        &mut p,
        0,
        SocketSpec {
            token_until: Some(60_000),
            ..watcher(3, &["user:1"], 0)
        },
    )
    .unwrap();
    p.poll(0);
    // socket 2 renews twice (later each time), and a refused renewal changes nothing
    p.socket_message(10_000, 2, Incoming::Token(Ok(120_000)));
    p.socket_message(
        20_000,
        2,
        Incoming::Token(Err("The token is for another entity.")),
    );
    let fx = p.poll(20_000);
    let errors: Vec<String> = fx
        .sends
        .iter()
        .filter(|s| s.to == [2])
        .map(|s| s.message.text())
        .collect();
    assert_eq!(
        errors,
        [
            r#"{"error":{"code":"bad_token","message":"The token is for another entity."},"type":"error"}"#
        ]
    );
    assert_eq!(
        fx.wake_at,
        Some(45_000),
        "the first silence deadline (ttl), then the tokens"
    );
    for t in [30_000, 45_000, 59_999] {
        let fx = alarm(&mut p, t);
        assert!(
            fx.closes.iter().all(|c| c.code != 4001),
            "not before the token's end"
        );
        for id in [1, 2, 3] {
            p.socket_message(t, id, Incoming::Text("ping"));
        }
        p.poll(t);
    }
    let fx = alarm(&mut p, 60_000);
    let mut expired: Vec<(SocketId, u16, &str)> = fx
        .closes
        .iter()
        .map(|c| (c.socket, c.code, c.reason))
        .collect();
    expired.sort_unstable();
    assert_eq!(
        expired,
        [(1, 4001, "token_expired"), (3, 4001, "token_expired")]
    );
    assert!(!p.is_live("s1"), "its session ended, as with a clean close");
    assert!(p.is_live("s2"), "the renewed one lives on");
    assert_eq!(p.entity_status("user:1").unwrap().sessions, 1);
    for t in [80_000, 100_000, 119_999] {
        p.socket_message(t, 2, Incoming::Text("ping"));
        assert!(alarm(&mut p, t).closes.is_empty(), "renewed until 120 s");
    }
    let fx = alarm(&mut p, 120_000);
    let closes: Vec<(SocketId, u16)> = fx.closes.iter().map(|c| (c.socket, c.code)).collect();
    assert_eq!(closes, [(2, 4001)]);
}
