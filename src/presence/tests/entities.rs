//! Entities through sessions and sockets.

use super::*;

#[test]
fn a_watcher_gets_each_status_at_once_from_memory_or_storage() {
    let mut p = core();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(0);
    p.socket_open(10, watcher(10, &["user:1", "user:2", "user:3"], 10), |e| {
        StoredEntity {
            last_seen: (e == "user:2").then_some(77),
            info: None,
        }
    })
    .unwrap();
    let first: Vec<(String, bool, u32, Option<Millis>)> = p
        .poll(10)
        .sends
        .into_iter()
        .filter_map(|s| match s.message {
            Message::Status { entity, status } => {
                Some((entity, status.online(), status.sessions, status.last_seen))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        first,
        [
            ("user:1".into(), true, 1, Some(0)),
            ("user:2".into(), false, 0, Some(77)),
            ("user:3".into(), false, 0, None)
        ]
    );
}

#[test]
fn watchers_hear_only_about_the_entities_they_watch() {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:1"], 0)).unwrap();
    open(&mut p, 0, watcher(11, &["user:1", "user:2"], 0)).unwrap();
    p.poll(0);
    ping_as(&mut p, 100, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    ping_as(&mut p, 100, "s2", "/", v(2), Event::Join, Some("user:2")).unwrap();
    ping_as(&mut p, 100, "s3", "/", v(3), Event::Join, Some("user:3")).unwrap();
    assert_eq!(
        statuses(&p.poll(100)),
        [
            ("user:1".into(), true, 1, vec![10, 11]),
            ("user:2".into(), true, 1, vec![11])
        ]
    );
    close(&mut p, 200, 11);
    ping_as(&mut p, 300, "s2", "/", v(2), Event::Leave, Some("user:2")).unwrap();
    let fx = alarm(&mut p, 300 + GRACE);
    assert!(statuses(&fx).is_empty(), "nobody watches user:2 any more");
}

#[test]
fn an_entity_on_a_silent_socket_goes_offline_after_ttl_and_grace_with_its_last_ping_as_last_seen() {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:9"], 0)).unwrap();
    let mut writes = p.poll(0).writes;
    open(&mut p, 1_000, carrier_as(1, "s1", "user:9", 1_000)).unwrap();
    p.socket_seen(1, 5_000);
    let fx = p.poll(5_000);
    assert_eq!(statuses(&fx), [("user:9".into(), true, 1, vec![10])]);
    writes.extend(fx.writes);
    let fx = alarm(&mut p, 5_000 + TTL);
    assert_eq!(closed(&fx), vec![1]);
    assert!(statuses(&fx).is_empty(), "still online during the grace");
    assert_eq!(fx.wake_at.map(|w| w <= 5_000 + TTL + GRACE), Some(true));
    writes.extend(fx.writes);
    let fx = alarm(&mut p, 5_000 + TTL + GRACE);
    let out: Vec<EntityStatus> = fx
        .sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Status { status, .. } => Some(status.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(out.len(), 1);
    assert!(!out[0].online());
    assert_eq!(out[0].last_seen, Some(5_000));
    writes.extend(fx.writes);
    assert!(writes
        .iter()
        .any(|w| matches!(w, Write::Entity(r) if r.entity == "user:9" && r.last_seen == 5_000)));
}

#[test]
fn an_entitys_session_is_touched_only_with_its_track_token() {
    let mut p = core();
    ping_as(&mut p, 0, "s1", "/docs", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(0);
    // without the token, or with another entity's: refused, and nothing changes
    for (event, entity) in [
        (Event::Heartbeat, None),
        (Event::Away, None),
        (Event::Leave, None),
        (Event::Join, None),
        (Event::Heartbeat, Some("user:2")),
        (Event::Leave, Some("user:2")),
    ] {
        let refused = ping_as(&mut p, 500, "s1", "/elsewhere", v(9), event, entity);
        assert_eq!(refused, Err(Refusal::NotYours), "{event:?} as {entity:?}");
    }
    assert!(p.poll(500).writes.is_empty(), "nothing written");
    assert_eq!(p.session_room("s1"), Some("/docs"), "not moved");
    assert!(!p.is_away("s1"));
    assert_eq!(
        p.entity_status("user:1").unwrap().last_seen,
        Some(0),
        "not kept alive"
    );
    assert_eq!(p.entity_status("user:2"), None);
    // a socket naming the session without the entity is refused too
    let refused = open(&mut p, 600, carrier(50, "s1", 9, "/elsewhere", 600));
    assert_eq!(refused, Err(Refusal::NotYours));
    assert_eq!(p.socket_count(), 0);
    // with its token: a heartbeat writes nothing and is a sign of life
    ping_as(
        &mut p,
        1_000,
        "s1",
        "/docs",
        v(1),
        Event::Heartbeat,
        Some("user:1"),
    )
    .unwrap();
    assert!(p.poll(1_000).writes.is_empty());
    assert_eq!(p.entity_status("user:1").unwrap().last_seen, Some(1_000));
    assert_consistent(&p);
}

#[test]
fn entities_of_stored_sessions_are_online_again_after_a_restart() {
    let mut p = core();
    let mut r = row("s1", "/", 1, None);
    r.entity = Some("user:5".into());
    r.entity_last_seen = Some(900);
    p.restore(1_000, vec![r], vec![]);
    let st = p.entity_status("user:5").unwrap();
    assert!(st.online());
    assert_eq!(st.last_seen, Some(900));
    let mut writes = p.poll(1_000).writes;
    assert!(
        statuses(&p.poll(1_000)).is_empty(),
        "a restore announces nothing"
    );
    let fx = alarm(&mut p, 1_000 + TTL + GRACE);
    assert!(statuses(&fx).is_empty(), "no one watches it");
    assert_eq!(p.entity_status("user:5"), None);
    writes.extend(fx.writes);
    let seen: Vec<Millis> = writes
        .into_iter()
        .filter_map(|w| match w {
            Write::Entity(r) => Some(r.last_seen),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        [900],
        "a silent restored session keeps its stored last-seen time"
    );
}
