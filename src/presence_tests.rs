//! Native tests of the presence core: expiry, room moves, visitor dedupe, sockets, the
//! broadcast throttle, restore, and invariants under random event sequences.

use super::*;

const TTL: Millis = 45_000;
const INTERVAL: Millis = 500;
const GRACE: Millis = 3_000;

fn core() -> Presence {
    Presence::new(Config {
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        limits: Limits::default(),
    })
}

fn v(n: u64) -> VisitorKey {
    VisitorKey(n)
}

fn counts(sessions: u32, visitors: u32) -> Counts {
    Counts { sessions, visitors }
}

fn carrier(id: SocketId, session: &str, visitor: u64, room: &str, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: Some(SocketSession {
            session: session.into(),
            visitor: v(visitor),
            room: room.into(),
            entity: None,
        }),
        view: Some(room.into()),
        watch: vec![],
        seen_at: at,
    }
}

fn subscriber(id: SocketId, view: Option<&str>, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: view.map(Into::into),
        watch: vec![],
        seen_at: at,
    }
}

fn assert_consistent(p: &Presence) {
    assert_eq!(p.tallies(), p.recount(), "tallies drifted from a recount");
    let (site, rooms) = p.tallies();
    assert!(site.visitors <= site.sessions);
    for r in rooms {
        assert!(r.sessions >= 1, "an empty room is listed: {r:?}");
        assert!(r.visitors <= r.sessions);
    }
}

// ----- joins, leaves, dedupe -----

#[test]
fn a_join_counts_and_a_leave_uncounts() {
    let mut p = core();
    let s = p.ping(0, "s1", "/pricing", v(1), Event::Join).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert_eq!(s.room.unwrap().sessions, 1);
    let s = p.ping(10, "s1", "/pricing", v(1), Event::Leave).unwrap();
    assert_eq!(s.site, counts(0, 0));
    assert_eq!(p.room_count(), 0);
    assert_consistent(&p);
}

#[test]
fn two_tabs_of_one_visitor_are_two_sessions_and_one_visitor() {
    let mut p = core();
    p.ping(0, "tab1", "/", v(7), Event::Join).unwrap();
    let s = p.ping(0, "tab2", "/", v(7), Event::Join).unwrap();
    assert_eq!(s.site, counts(2, 1));
    assert_eq!(s.room.unwrap().visitors, 1);
    p.ping(1, "tab1", "/", v(7), Event::Leave).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    assert_consistent(&p);
}

#[test]
fn a_heartbeat_for_an_unknown_session_is_a_join_and_a_leave_for_one_changes_nothing() {
    let mut p = core();
    let s = p.ping(0, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert!(matches!(p.take_writes().as_slice(), [Write::Upsert { .. }]));
    let s = p.ping(0, "ghost", "/", v(2), Event::Leave).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert!(
        p.take_writes().is_empty(),
        "a leave for an unknown session writes nothing"
    );
}

#[test]
fn heartbeats_write_nothing() {
    let mut p = core();
    p.ping(0, "s1", "/", v(1), Event::Join).unwrap();
    assert_eq!(p.take_writes().len(), 1);
    for t in 1..50 {
        p.ping(t * 1000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    }
    assert!(p.take_writes().is_empty());
}

#[test]
fn a_heartbeat_with_another_room_moves_the_session() {
    let mut p = core();
    p.ping(0, "s1", "/a", v(1), Event::Join).unwrap();
    p.take_writes();
    let s = p.ping(100, "s1", "/b", v(1), Event::Heartbeat).unwrap();
    assert_eq!(s.site, counts(1, 1));
    assert_eq!(s.room.unwrap().sessions, 1);
    assert_eq!(p.room_counts("/a").sessions, 0);
    assert_eq!(p.room_count(), 1);
    assert!(
        matches!(p.take_writes().as_slice(), [Write::Upsert { room, joined_at: 0, .. }] if room == "/b")
    );
    assert_consistent(&p);
}

#[test]
fn rooms_are_listed_busiest_first() {
    let mut p = core();
    for (i, room) in ["/a", "/b", "/b", "/c", "/c", "/c"].iter().enumerate() {
        p.ping(0, &format!("s{i}"), room, v(i as u64), Event::Join)
            .unwrap();
    }
    let names: Vec<String> = p.top_rooms(20).into_iter().map(|r| r.room).collect();
    assert_eq!(names, ["/c", "/b", "/a"]);
    let top: Vec<String> = p.top_rooms(2).into_iter().map(|r| r.room).collect();
    assert_eq!(top, ["/c", "/b"]);
    assert!(p.top_rooms(0).is_empty());
}

// ----- expiry -----

#[test]
fn an_http_session_expires_one_ttl_after_its_last_heartbeat() {
    let mut p = core();
    p.ping(0, "s1", "/", v(1), Event::Join).unwrap();
    p.ping(10_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    p.flush(10_000);
    assert_eq!(p.next_wake(), Some(10_000 + TTL));
    p.expire(10_000 + TTL - 1);
    assert_eq!(
        p.site_counts().sessions,
        1,
        "still live one ms before its ttl"
    );
    p.expire(10_000 + TTL);
    assert_eq!(p.site_counts().sessions, 0);
    assert!(matches!(p.take_writes().last(), Some(Write::Delete { session }) if session == "s1"));
    assert_consistent(&p);
}

#[test]
fn next_wake_is_the_earliest_expiry() {
    let mut p = core();
    p.ping(0, "a", "/", v(1), Event::Join).unwrap();
    p.ping(5_000, "b", "/", v(2), Event::Join).unwrap();
    p.flush(5_000);
    assert_eq!(p.next_wake(), Some(TTL));
    p.ping(6_000, "a", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.next_wake(), Some(5_000 + TTL));
}

#[test]
fn a_silent_socket_is_closed_one_ttl_after_its_last_ping() {
    let mut p = core();
    p.socket_open(0, carrier(1, "s1", 1, "/", 0)).unwrap();
    assert_eq!(p.site_counts().sessions, 1);
    p.socket_seen(1, 20_000);
    assert_eq!(p.sockets_due(20_000 + TTL), Vec::<SocketId>::new());
    assert_eq!(p.sockets_due(20_000 + TTL + 1), vec![1]);
    assert!(p.expire(20_000 + TTL - 1).is_empty());
    assert_eq!(p.expire(20_000 + TTL), vec![1]);
    assert_eq!(p.site_counts().sessions, 0);
    assert_eq!(p.socket_count(), 0);
    assert_consistent(&p);
}

#[test]
fn a_subscriber_that_never_pings_is_kept_much_longer_than_a_ttl() {
    let mut p = core();
    p.socket_open(0, subscriber(9, None, 0)).unwrap();
    assert!(p.expire(TTL * 5).is_empty());
    assert_eq!(p.expire(SUBSCRIBER_IDLE_MIN_MS.max(TTL * 20)), vec![9]);
}

// ----- sockets and sessions -----

#[test]
fn a_clean_close_uncounts_at_once() {
    let mut p = core();
    p.socket_open(0, carrier(1, "s1", 1, "/", 0)).unwrap();
    p.socket_close(0, 1);
    assert_eq!(p.site_counts(), counts(0, 0));
    assert!(matches!(
        p.take_writes().as_slice(),
        [Write::Upsert { .. }, Write::Delete { .. }]
    ));
}

#[test]
fn a_session_over_http_and_a_socket_counts_once() {
    let mut p = core();
    p.ping(0, "s1", "/", v(1), Event::Join).unwrap();
    p.socket_open(10, carrier(1, "s1", 1, "/", 10)).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    p.ping(20, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    // the socket closes; the HTTP hold keeps it until its own ttl
    p.socket_close(0, 1);
    assert_eq!(p.site_counts().sessions, 1);
    p.expire(20 + TTL);
    assert_eq!(p.site_counts().sessions, 0);
    assert_consistent(&p);
}

#[test]
fn a_socket_session_without_http_ends_with_its_last_socket() {
    let mut p = core();
    p.socket_open(0, carrier(1, "s1", 1, "/", 0)).unwrap();
    p.socket_open(5, carrier(2, "s1", 1, "/", 5)).unwrap(); // a reconnect overlapping the old socket
    assert_eq!(p.site_counts().sessions, 1);
    p.socket_close(0, 1);
    assert_eq!(p.site_counts().sessions, 1);
    p.socket_close(0, 2);
    assert_eq!(p.site_counts().sessions, 0);
}

#[test]
fn a_leave_ends_a_session_its_socket_carried() {
    let mut p = core();
    p.socket_open(0, carrier(1, "s1", 1, "/", 0)).unwrap();
    p.ping(10, "s1", "/", v(1), Event::Leave).unwrap();
    assert_eq!(p.site_counts().sessions, 0);
    assert_eq!(p.socket_count(), 1, "the socket stays, as a subscriber");
    p.socket_close(0, 1);
    assert_eq!(p.site_counts().sessions, 0);
    assert_consistent(&p);
}

// ----- broadcast throttle -----

#[test]
fn a_change_after_a_quiet_interval_goes_out_at_once() {
    let mut p = core();
    p.socket_open(0, subscriber(1, Some("/"), 0)).unwrap();
    p.ping(10_000, "s1", "/", v(1), Event::Join).unwrap();
    let out = p.flush(10_000);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sockets, vec![1]);
    assert_eq!(out[0].site, counts(1, 1));
    assert_eq!(out[0].room.as_ref().unwrap().sessions, 1);
}

#[test]
fn under_churn_each_socket_gets_at_most_one_message_per_interval_and_the_last_state() {
    let mut p = core();
    p.socket_open(0, subscriber(1, None, 0)).unwrap();
    let mut sent_at = Vec::new();
    let mut last = None;
    let mut t = 1_000;
    for i in 0..100u64 {
        t += 37; // a change every 37 ms for 3.7 s
        p.ping(t, &format!("s{i}"), "/", v(i), Event::Join).unwrap();
        for b in p.flush(t) {
            sent_at.push(t);
            last = Some(b.site);
        }
    }
    // drain the pending broadcast the way the alarm would
    while let Some(w) = p.next_wake().filter(|w| *w <= t + INTERVAL) {
        for b in p.flush(w) {
            sent_at.push(w);
            last = Some(b.site);
        }
        t = w;
        if !p.flush(w).is_empty() {
            unreachable!("a second flush at the same time sent again");
        }
    }
    assert_eq!(last, Some(counts(100, 100)), "the final count arrives");
    for pair in sent_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= INTERVAL,
            "two messages {pair:?} inside one interval"
        );
    }
    let span = 3_700 + INTERVAL;
    assert!(
        sent_at.len() as u64 <= span / INTERVAL + 1,
        "{} messages",
        sent_at.len()
    );
}

#[test]
fn a_pending_change_is_due_when_the_interval_ends() {
    let mut p = core();
    p.socket_open(0, subscriber(1, None, 0)).unwrap();
    p.ping(100, "s1", "/", v(1), Event::Join).unwrap();
    assert!(
        p.flush(100).is_empty(),
        "the open snapshot was sent 100 ms ago"
    );
    assert_eq!(p.next_wake(), Some(INTERVAL));
    let out = p.flush(INTERVAL);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].site, counts(1, 1));
}

#[test]
fn nothing_is_sent_when_nothing_changed() {
    let mut p = core();
    p.socket_open(0, subscriber(1, None, 0)).unwrap();
    p.ping(1_000, "s1", "/", v(1), Event::Join).unwrap();
    assert_eq!(p.flush(1_000).len(), 1);
    p.ping(2_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert!(p.flush(2_000).is_empty());
    // a join and a leave inside one interval cancel out: nothing to say
    p.ping(3_000, "s2", "/", v(2), Event::Join).unwrap();
    p.ping(3_001, "s2", "/", v(2), Event::Leave).unwrap();
    assert!(p.flush(3_001).is_empty());
}

#[test]
fn sockets_only_hear_about_their_own_room_and_the_site() {
    let mut p = core();
    p.socket_open(0, subscriber(1, Some("/a"), 0)).unwrap();
    p.socket_open(0, subscriber(2, Some("/b"), 0)).unwrap();
    p.socket_open(0, subscriber(3, None, 0)).unwrap();
    p.ping(1_000, "s1", "/a", v(1), Event::Join).unwrap();
    let mut out = p.flush(1_000);
    out.sort_by_key(|b| b.sockets[0]);
    // every socket sees the site change; /a's view shows the room too
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].room.as_ref().unwrap().sessions, 1);
    assert_eq!(out[1].room.as_ref().unwrap().sessions, 0);
    assert_eq!(out[2].room, None);
}

#[test]
fn a_new_socket_gets_the_current_counts_at_once() {
    let mut p = core();
    p.ping(0, "s1", "/x", v(1), Event::Join).unwrap();
    let snap = p.socket_open(1, subscriber(5, Some("/x"), 1)).unwrap();
    assert_eq!(snap.site, counts(1, 1));
    assert_eq!(snap.room.unwrap().sessions, 1);
    assert!(
        p.flush(1).iter().all(|b| !b.sockets.contains(&5)),
        "no duplicate of the snapshot"
    );
}

// ----- restore -----

fn row(id: &str, room: &str, visitor: u64, restored_at: Option<Millis>) -> StoredSession {
    StoredSession {
        session: id.into(),
        room: room.into(),
        visitor: v(visitor),
        entity: None,
        entity_last_seen: None,
        joined_at: 0,
        restored_at,
    }
}

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
    let writes = p.take_writes();
    assert!(
        matches!(writes.as_slice(), [Write::MarkRestored { at, sessions }] if *at == now && sessions.len() == 2)
    );
    // a heartbeat confirms "a" (one write, once) and keeps it
    p.ping(now + 10_000, "a", "/", v(1), Event::Heartbeat)
        .unwrap();
    assert!(matches!(p.take_writes().as_slice(), [Write::Confirm { session }] if session == "a"));
    p.ping(now + 20_000, "a", "/", v(1), Event::Heartbeat)
        .unwrap();
    assert!(p.take_writes().is_empty());
    p.expire(now + TTL);
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
    assert_eq!(p.next_wake(), Some(first + TTL));
    let mut q = core();
    q.restore(first + TTL, vec![row("a", "/", 1, Some(first))], vec![]);
    assert_eq!(q.site_counts().sessions, 0);
    assert!(matches!(q.take_writes().as_slice(), [Write::Delete { session }] if session == "a"));
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
    p.socket_close(0, 7);
    assert_eq!(p.site_counts().sessions, 1);
    // only s2 (no socket) was marked as restored
    let writes = p.take_writes();
    assert!(writes.iter().any(
        |w| matches!(w, Write::MarkRestored { sessions, .. } if sessions == &vec!["s2".to_string()])
    ));
    assert_consistent(&p);
}

#[test]
fn a_socket_whose_row_was_lost_is_written_again() {
    let mut p = core();
    p.restore(1_000, vec![], vec![carrier(1, "s9", 3, "/r", 900)]);
    assert_eq!(p.room_counts("/r").sessions, 1);
    assert!(
        matches!(p.take_writes().as_slice(), [Write::Upsert { session, .. }] if session == "s9")
    );
}

// ----- invariants under random sequences -----

/// xorshift64*: a tiny deterministic generator, so failures replay from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_event_sequences_keep_every_invariant() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut p = core();
        let mut now: Millis = 0;
        let mut next_socket: SocketId = 1;
        let mut open: Vec<SocketId> = Vec::new();
        for _ in 0..400 {
            now += rng.below(3_000);
            let session = format!("s{}", rng.below(12));
            let room = ["/", "/a", "/b"][rng.below(3) as usize];
            let visitor = v(rng.below(6));
            match rng.below(9) {
                0 => drop(p.ping(now, &session, room, visitor, Event::Join).unwrap()),
                1 | 2 => drop(
                    p.ping(now, &session, room, visitor, Event::Heartbeat)
                        .unwrap(),
                ),
                3 => drop(p.ping(now, &session, room, visitor, Event::Leave).unwrap()),
                4 => {
                    let spec = if rng.below(2) == 0 {
                        carrier(next_socket, &session, visitor.0, room, now)
                    } else {
                        subscriber(next_socket, Some(room), now)
                    };
                    p.socket_open(now, spec).unwrap();
                    open.push(next_socket);
                    next_socket += 1;
                }
                5 if !open.is_empty() => {
                    let id = open.swap_remove(rng.below(open.len() as u64) as usize);
                    p.socket_close(now, id);
                }
                6 if !open.is_empty() => {
                    let id = open[rng.below(open.len() as u64) as usize];
                    p.socket_seen(id, now);
                }
                _ => {
                    let closed = p.expire(now);
                    open.retain(|id| !closed.contains(id));
                }
            }
            p.flush(now);
            p.take_writes();
            assert_consistent(&p);
            assert_eq!(p.socket_count(), open.len(), "seed {seed}");
            if p.site_counts().sessions > 0 || p.socket_count() > 0 {
                assert!(
                    p.next_wake().is_some(),
                    "seed {seed}: live state but no wake-up"
                );
            }
        }
        // after everything falls silent, all is gone
        now += SUBSCRIBER_IDLE_MIN_MS.max(TTL * 20) + 1;
        p.expire(now);
        assert_eq!(p.site_counts(), counts(0, 0), "seed {seed}");
        assert_eq!(p.socket_count(), 0, "seed {seed}");
        assert_eq!(p.room_count(), 0, "seed {seed}");
    }
}

#[test]
fn stored_rows_always_match_the_live_sessions() {
    // Replays the writes into a model of the table and compares with the core's sessions.
    use std::collections::BTreeMap;
    let mut rng = Rng(0xdead_beef);
    let mut p = core();
    let mut table: BTreeMap<String, String> = BTreeMap::new();
    let mut now = 0;
    let mut open: Vec<SocketId> = Vec::new();
    for i in 0..2_000u64 {
        now += rng.below(4_000);
        let session = format!("s{}", rng.below(10));
        let room = ["/", "/x"][rng.below(2) as usize];
        match rng.below(6) {
            0 | 1 => drop(p.ping(now, &session, room, v(1), Event::Heartbeat).unwrap()),
            2 => drop(p.ping(now, &session, room, v(1), Event::Leave).unwrap()),
            3 => {
                p.socket_open(now, carrier(i, &session, 1, room, now))
                    .unwrap();
                open.push(i);
            }
            4 if !open.is_empty() => p.socket_close(now, open.swap_remove(0)),
            _ => {
                let closed = p.expire(now);
                open.retain(|id| !closed.contains(id));
            }
        }
        for w in p.take_writes() {
            match w {
                Write::Upsert { session, room, .. } => {
                    table.insert(session, room);
                }
                Write::Delete { session } => {
                    table.remove(&session);
                }
                Write::Confirm { .. } | Write::MarkRestored { .. } | Write::EntitySeen { .. } => {}
            }
        }
        let live: BTreeMap<String, String> = (0..10)
            .map(|n| format!("s{n}"))
            .filter_map(|s| p.session_room(&s).map(|r| (s.clone(), r.to_owned())))
            .collect();
        assert_eq!(table, live, "step {i}");
    }
}

// ----- entities through sessions and sockets -----

fn carrier_as(id: SocketId, session: &str, entity: &str, at: Millis) -> SocketSpec {
    let mut spec = carrier(id, session, 1, "/", at);
    if let Some(s) = spec.session.as_mut() {
        s.entity = Some(entity.into());
    }
    spec
}

fn watcher(id: SocketId, entities: &[&str], at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: None,
        watch: entities.iter().map(|e| e.to_string()).collect(),
        seen_at: at,
    }
}

fn statuses(p: &mut Presence) -> Vec<(String, bool, u32, Vec<SocketId>)> {
    p.take_status()
        .into_iter()
        .map(|b| (b.entity, b.status.online, b.status.sessions, b.sockets))
        .collect()
}

#[test]
fn watchers_hear_only_about_the_entities_they_watch() {
    let mut p = core();
    p.socket_open(0, watcher(10, &["user:1"], 0)).unwrap();
    p.socket_open(0, watcher(11, &["user:1", "user:2"], 0))
        .unwrap();
    p.ping_as(100, "s1", "/", v(1), Event::Join, Some("user:1"))
        .unwrap();
    p.ping_as(100, "s2", "/", v(2), Event::Join, Some("user:2"))
        .unwrap();
    p.ping_as(100, "s3", "/", v(3), Event::Join, Some("user:3"))
        .unwrap();
    assert_eq!(
        statuses(&mut p),
        [
            ("user:1".into(), true, 1, vec![10, 11]),
            ("user:2".into(), true, 1, vec![11])
        ]
    );
    p.socket_close(200, 11);
    p.ping_as(300, "s2", "/", v(2), Event::Leave, None).unwrap();
    p.expire(300 + GRACE);
    assert!(
        statuses(&mut p).is_empty(),
        "nobody watches user:2 any more"
    );
}

#[test]
fn an_entity_on_a_silent_socket_goes_offline_after_ttl_and_grace_with_its_last_ping_as_last_seen() {
    let mut p = core();
    p.socket_open(0, watcher(10, &["user:9"], 0)).unwrap();
    p.socket_open(1_000, carrier_as(1, "s1", "user:9", 1_000))
        .unwrap();
    p.socket_seen(1, 5_000);
    assert_eq!(statuses(&mut p), [("user:9".into(), true, 1, vec![10])]);
    assert_eq!(p.expire(5_000 + TTL), vec![1]);
    assert!(statuses(&mut p).is_empty(), "still online during the grace");
    assert_eq!(p.next_wake().map(|w| w <= 5_000 + TTL + GRACE), Some(true));
    p.expire(5_000 + TTL + GRACE);
    let out = p.take_status();
    assert_eq!(out.len(), 1);
    assert!(!out[0].status.online);
    assert_eq!(out[0].status.last_seen, Some(5_000));
    assert!(p.take_writes().iter().any(
        |w| matches!(w, Write::EntitySeen { entity, last_seen: 5_000 } if entity == "user:9")
    ));
}

#[test]
fn a_heartbeat_without_entity_keeps_the_sessions_entity_and_writes_nothing() {
    let mut p = core();
    p.ping_as(0, "s1", "/", v(1), Event::Join, Some("user:1"))
        .unwrap();
    p.take_writes();
    p.ping(1_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert!(p.take_writes().is_empty());
    assert_eq!(p.entity_status("user:1").unwrap().last_seen, Some(1_000));
    // switching entity on the same session ends one and starts the other
    p.ping_as(2_000, "s1", "/", v(1), Event::Heartbeat, Some("user:2"))
        .unwrap();
    assert_eq!(p.entity_status("user:2").unwrap().sessions, 1);
    assert!(
        p.entity_status("user:1").unwrap().online,
        "user:1 is in its grace"
    );
    p.expire(2_000 + GRACE);
    assert_eq!(p.entity_status("user:1"), None);
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
    assert!(st.online);
    assert_eq!(st.last_seen, Some(900));
    assert!(p.take_status().is_empty(), "a restore announces nothing");
    p.expire(1_000 + TTL + GRACE);
    assert_eq!(p.entity_status("user:5"), None);
    let seen: Vec<Millis> = p
        .take_writes()
        .into_iter()
        .filter_map(|w| match w {
            Write::EntitySeen { last_seen, .. } => Some(last_seen),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        [900],
        "a silent restored session keeps its stored last-seen time"
    );
}

// ----- ceilings -----

fn small(max_sessions: usize, max_rooms: usize, max_sockets: usize) -> Presence {
    Presence::new(Config {
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        limits: Limits {
            max_sessions,
            max_rooms,
            max_sockets,
        },
    })
}

#[test]
fn a_full_site_refuses_new_sessions_but_keeps_its_own() {
    let mut p = small(2, 10, 10);
    p.ping(0, "a", "/", v(1), Event::Join).unwrap();
    p.ping(0, "b", "/", v(2), Event::Join).unwrap();
    assert_eq!(
        p.ping(0, "c", "/", v(3), Event::Join),
        Err(Refusal::SiteFull)
    );
    assert_eq!(
        p.socket_open(0, carrier(1, "c", 3, "/", 0)),
        Err(Refusal::SiteFull)
    );
    assert!(
        p.ping(10, "a", "/", v(1), Event::Heartbeat).is_ok(),
        "known sessions go on"
    );
    assert_eq!(p.site_counts().sessions, 2);
    assert!(p.take_writes().len() == 2, "refusals write nothing");
    p.ping(20, "a", "/", v(1), Event::Leave).unwrap();
    assert!(
        p.ping(30, "c", "/", v(3), Event::Join).is_ok(),
        "room again once one left"
    );
}

#[test]
fn sockets_past_the_ceiling_are_refused() {
    let mut p = small(100, 10, 2);
    p.socket_open(0, subscriber(1, None, 0)).unwrap();
    p.socket_open(0, subscriber(2, None, 0)).unwrap();
    assert_eq!(
        p.socket_open(0, subscriber(3, None, 0)),
        Err(Refusal::TooManySockets)
    );
    assert_eq!(p.socket_count(), 2);
    p.socket_close(1, 1);
    assert!(p.socket_open(2, subscriber(3, None, 2)).is_ok());
}

#[test]
fn rooms_past_the_ceiling_are_counted_in_the_overflow_group() {
    let mut p = small(100, 2, 10);
    p.ping(0, "a", "/a", v(1), Event::Join).unwrap();
    p.ping(0, "b", "/b", v(2), Event::Join).unwrap();
    let snap = p.ping(0, "c", "/c", v(3), Event::Join).unwrap();
    let room = snap.room.unwrap();
    assert_eq!(room.room, "/c");
    assert_eq!(room.grouped_as.as_deref(), Some(OVERFLOW_ROOM));
    assert_eq!(room.sessions, 1);
    p.ping(0, "d", "/d", v(4), Event::Join).unwrap();
    assert_eq!(p.site_counts().sessions, 4, "nothing is dropped");
    assert_eq!(p.room_counts(OVERFLOW_ROOM).sessions, 2);
    assert_eq!(p.room_count(), 3);
    // heartbeats of a grouped session do not move it or write anything
    p.take_writes();
    p.ping(10, "c", "/c", v(3), Event::Heartbeat).unwrap();
    assert!(p.take_writes().is_empty());
    // a grouped session moving to a listed room leaves the group
    p.ping(20, "c", "/a", v(3), Event::Heartbeat).unwrap();
    assert_eq!(p.room_counts("/a").sessions, 2);
    assert_eq!(p.room_counts(OVERFLOW_ROOM).sessions, 1);
    assert_consistent(&p);
}
