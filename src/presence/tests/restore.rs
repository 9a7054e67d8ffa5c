//! Restore after a restart or a wake from hibernation.

use super::*;

#[test]
fn stored_sessions_count_again_for_one_ttl_after_a_restart() {
    let mut p = core();
    let now = 1_000_000;
    p.restore(
        now,
        vec![row("a", "/", 1, None), row("b", "/x", 1, None)],
        vec![],
    );
    assert_eq!(p.site_counts(), counts(2, 1));
    let writes = p.poll(now).writes;
    assert!(
        matches!(writes.as_slice(), [Write::MarkRestored { at, sessions }] if *at == now && sessions.len() == 2)
    );
    // a heartbeat confirms "a" (one write, once) and keeps it
    ping(&mut p, now + 10_000, "a", "/", v(1), Event::Heartbeat).unwrap();
    assert!(
        matches!(p.poll(now + 10_000).writes.as_slice(), [Write::Confirm { session }] if session == "a")
    );
    ping(&mut p, now + 20_000, "a", "/", v(1), Event::Heartbeat).unwrap();
    assert!(p.poll(now + 20_000).writes.is_empty());
    alarm(&mut p, now + TTL);
    assert_eq!(
        p.site_counts(),
        counts(1, 1),
        "b expired one ttl after the restart"
    );
    assert_consistent(&p);
}

#[test]
fn a_second_restart_gives_no_second_ttl_to_a_silent_session() {
    let mut p = core();
    let first = 1_000_000;
    p.restore(first + 30_000, vec![row("a", "/", 1, Some(first))], vec![]);
    assert_eq!(p.site_counts().sessions, 1, "15 s of its ttl are left");
    assert_eq!(p.poll(first + 30_000).wake_at, Some(first + TTL));
    let mut q = core();
    q.restore(first + TTL, vec![row("a", "/", 1, Some(first))], vec![]);
    assert_eq!(q.site_counts().sessions, 0);
    assert!(
        matches!(q.poll(first + TTL).writes.as_slice(), [Write::Delete { session }] if session == "a")
    );
}

#[test]
fn sockets_come_back_from_their_attachments() {
    let mut p = core();
    let now = 500_000;
    p.restore(
        now,
        vec![row("s1", "/", 1, None), row("s2", "/", 2, None)],
        vec![
            carrier(7, "s1", 1, "/", now - 1_000),
            subscriber(8, None, now - 5_000),
        ],
    );
    assert_eq!(p.site_counts(), counts(2, 2));
    assert_eq!(p.socket_count(), 2);
    // s1 is held by its socket only: a clean close ends it at once
    close(&mut p, now, 7);
    assert_eq!(p.site_counts().sessions, 1);
    // only s2 (no socket) was marked as restored
    let writes = p.poll(now).writes;
    assert!(writes.iter().any(
        |w| matches!(w, Write::MarkRestored { sessions, .. } if sessions == &vec!["s2".to_string()])
    ));
    assert_consistent(&p);
}

#[test]
fn a_socket_session_comes_back_from_its_attachment_and_an_entity_s_row_is_written_again() {
    let mut p = core();
    // anonymous: it never had a row, and needs none
    p.restore(1_000, vec![], vec![carrier(1, "s9", 3, "/r", 900)]);
    assert_eq!(p.room_counts("/r").sessions, 1);
    assert_eq!(p.poll(1_000).writes, []);
    // an entity's session whose row was lost gets it again
    let mut p = core();
    p.restore(1_000, vec![], vec![carrier_as(1, "s8", "user:1", 900)]);
    assert_eq!(p.site_counts().sessions, 1);
    assert!(p
        .poll(1_000)
        .writes
        .iter()
        .any(|w| matches!(w, Write::Upsert { session, .. } if session == "s8")));
}

#[test]
fn after_a_restore_the_next_change_goes_to_every_socket() {
    let mut p = core();
    let now = 10_000;
    p.restore(
        now,
        vec![],
        vec![subscriber(1, None, now), subscriber(2, Some("/"), now)],
    );
    assert!(
        p.poll(now).sends.is_empty(),
        "a restore says nothing by itself"
    );
    ping(&mut p, now + 1, "s1", "/", v(1), Event::Join).unwrap();
    let out = broadcasts(&p.poll(now + 1));
    let mut to: Vec<SocketId> = out.iter().flat_map(|b| b.sockets.clone()).collect();
    to.sort_unstable();
    assert_eq!(to, vec![1, 2]);
}
