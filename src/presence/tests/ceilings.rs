//! Ceilings: sessions, sockets, rooms.

use super::*;

#[test]
fn a_full_site_refuses_new_sessions_but_keeps_its_own() {
    let mut p = small(2, 10, 10);
    ping(&mut p, 0, "a", "/", v(1), Event::Join).unwrap();
    ping(&mut p, 0, "b", "/", v(2), Event::Join).unwrap();
    assert_eq!(
        ping(&mut p, 0, "c", "/", v(3), Event::Join),
        Err(Refusal::SiteFull)
    );
    assert_eq!(
        open(&mut p, 0, carrier(1, "c", 3, "/", 0)),
        Err(Refusal::SiteFull)
    );
    assert!(
        ping(&mut p, 10, "a", "/", v(1), Event::Heartbeat).is_ok(),
        "known sessions go on"
    );
    assert_eq!(p.site_counts().sessions, 2);
    let fx = p.poll(10);
    assert!(fx.writes.len() == 2, "refusals write nothing");
    assert!(fx.sends.is_empty(), "a refused socket is told nothing");
    ping(&mut p, 20, "a", "/", v(1), Event::Leave).unwrap();
    assert!(
        ping(&mut p, 30, "c", "/", v(3), Event::Join).is_ok(),
        "room again once one left"
    );
}

#[test]
fn sockets_past_the_ceiling_are_refused() {
    let mut p = small(100, 10, 2);
    open(&mut p, 0, subscriber(1, None, 0)).unwrap();
    open(&mut p, 0, subscriber(2, None, 0)).unwrap();
    assert_eq!(
        open(&mut p, 0, subscriber(3, None, 0)),
        Err(Refusal::TooManySockets)
    );
    assert_eq!(p.socket_count(), 2);
    close(&mut p, 1, 1);
    assert!(open(&mut p, 2, subscriber(3, None, 2)).is_ok());
}

#[test]
fn rooms_past_the_ceiling_are_counted_in_the_overflow_group() {
    let mut p = small(100, 2, 10);
    ping(&mut p, 0, "a", "/a", v(1), Event::Join).unwrap();
    ping(&mut p, 0, "b", "/b", v(2), Event::Join).unwrap();
    let snap = ping(&mut p, 0, "c", "/c", v(3), Event::Join).unwrap();
    let room = snap.room.unwrap();
    assert_eq!(room.room, "/c");
    assert_eq!(room.grouped_as.as_deref(), Some(OVERFLOW_ROOM));
    assert_eq!(room.sessions, 1);
    ping(&mut p, 0, "d", "/d", v(4), Event::Join).unwrap();
    assert_eq!(p.site_counts().sessions, 4, "nothing is dropped");
    assert_eq!(p.room_counts(OVERFLOW_ROOM).sessions, 2);
    assert_eq!(p.room_count(), 3);
    // heartbeats of a grouped session do not move it or write anything
    p.poll(0);
    ping(&mut p, 10, "c", "/c", v(3), Event::Heartbeat).unwrap();
    assert!(p.poll(10).writes.is_empty());
    // a grouped session moving to a listed room leaves the group
    ping(&mut p, 20, "c", "/a", v(3), Event::Heartbeat).unwrap();
    assert_eq!(p.room_counts("/a").sessions, 2);
    assert_eq!(p.room_counts(OVERFLOW_ROOM).sessions, 1);
    assert_consistent(&p);
}
