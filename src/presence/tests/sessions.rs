//! Joins, leaves and visitor dedupe.

use super::*;

#[test]
fn a_join_counts_and_a_leave_uncounts() {
    let mut p = core();
    let s = ping(&mut p, 0, "s1", "/pricing", v(1), Event::Join).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert_eq!(s.room.unwrap().sessions, 1);
    let s = ping(&mut p, 10, "s1", "/pricing", v(1), Event::Leave).unwrap();
    assert_eq!(s.site, counts(0, 0));
    assert_eq!(p.room_count(), 0);
    assert_consistent(&p);
}

#[test]
fn two_tabs_of_one_visitor_are_two_sessions_and_one_visitor() {
    let mut p = core();
    ping(&mut p, 0, "tab1", "/", v(7), Event::Join).unwrap();
    let s = ping(&mut p, 0, "tab2", "/", v(7), Event::Join).unwrap();
    assert_eq!(s.site, counts(2, 1));
    assert_eq!(s.room.unwrap().visitors, 1);
    ping(&mut p, 1, "tab1", "/", v(7), Event::Leave).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    assert_consistent(&p);
}

#[test]
fn a_heartbeat_for_an_unknown_session_is_a_join_and_a_leave_for_one_changes_nothing() {
    let mut p = core();
    let s = ping(&mut p, 0, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert!(matches!(
        p.poll(0).writes.as_slice(),
        [Write::Upsert { .. }]
    ));
    let s = ping(&mut p, 0, "ghost", "/", v(2), Event::Leave).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert!(
        p.poll(0).writes.is_empty(),
        "a leave for an unknown session writes nothing"
    );
}

#[test]
fn heartbeats_write_nothing() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/", v(1), Event::Join).unwrap();
    assert_eq!(p.poll(0).writes.len(), 1);
    for t in 1..50 {
        ping(&mut p, t * 1000, "s1", "/", v(1), Event::Heartbeat).unwrap();
        assert!(p.poll(t * 1000).writes.is_empty());
    }
}

#[test]
fn a_heartbeat_with_another_room_moves_the_session() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/a", v(1), Event::Join).unwrap();
    p.poll(0);
    let s = ping(&mut p, 100, "s1", "/b", v(1), Event::Heartbeat).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert_eq!(s.room.unwrap().sessions, 1);
    assert_eq!(p.room_counts("/a").sessions, 0);
    assert_eq!(p.room_count(), 1);
    assert!(matches!(
        p.poll(100).writes.as_slice(),
        [Write::Upsert { room, joined_at: 0, .. }] if room == "/b"
    ));
    assert_consistent(&p);
}

#[test]
fn rooms_are_listed_busiest_first() {
    let mut p = core();
    for (i, room) in ["/a", "/b", "/b", "/c", "/c", "/c"].iter().enumerate() {
        ping(&mut p, 0, &format!("s{i}"), room, v(i as u64), Event::Join).unwrap();
    }
    let names: Vec<String> = p.top_rooms(20).into_iter().map(|r| r.room).collect();
    assert_eq!(names, ["/c", "/b", "/a"]);
    let top: Vec<String> = p.top_rooms(2).into_iter().map(|r| r.room).collect();
    assert_eq!(top, ["/c", "/b"]);
    assert!(p.top_rooms(0).is_empty());
}
