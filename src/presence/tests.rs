//! Native tests of the presence core: expiry, room moves, visitor dedupe, sockets, the
//! broadcast throttle, restore, and invariants under random event sequences. Each test drives
//! the core through its inputs and reads what it answers from `poll`, as the edge does.

use super::*;

const TTL: Millis = 45_000;
const INTERVAL: Millis = 500;
const GRACE: Millis = 3_000;
const HEARTBEAT: Millis = 15_000;
const AWAY_TTL: Millis = 300_000;

fn core() -> Presence {
    small(
        Limits::default().max_sessions,
        Limits::default().max_rooms,
        Limits::default().max_sockets,
    )
}

fn small(max_sessions: usize, max_rooms: usize, max_sockets: usize) -> Presence {
    Presence::new(Config {
        heartbeat_ms: HEARTBEAT,
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        away_ttl_ms: AWAY_TTL,
        // its own tests below; here its minute wakes would only blur the timers under test
        history: false,
        shard: 0,
        shards: 1,
        limits: Limits {
            max_sessions,
            max_rooms,
            max_sockets,
        },
    })
}

fn v(n: u64) -> VisitorKey {
    VisitorKey(n)
}

fn counts(sessions: u32, visitors: u32) -> Counts {
    Counts { sessions, visitors }
}

// ----- driving the core as the edge does -----

fn ping(
    p: &mut Presence,
    now: Millis,
    session: &str,
    room: &str,
    visitor: VisitorKey,
    event: Event,
) -> Result<Snapshot, Refusal> {
    ping_as(p, now, session, room, visitor, event, None)
}

fn ping_as(
    p: &mut Presence,
    now: Millis,
    session: &str,
    room: &str,
    visitor: VisitorKey,
    event: Event,
    entity: Option<&str>,
) -> Result<Snapshot, Refusal> {
    p.ping(
        now,
        Ping {
            session,
            room,
            visitor,
            event,
            entity,
            info: None,
        },
    )
}

fn open(p: &mut Presence, now: Millis, spec: SocketSpec) -> Result<(), Refusal> {
    p.socket_open(now, spec, |_| StoredEntity::default())
}

fn close(p: &mut Presence, now: Millis, id: SocketId) {
    p.socket_closed(now, id, Closed::Clean)
}

/// The alarm at `now` with no runtime record of pongs; answers its effects.
fn alarm(p: &mut Presence, now: Millis) -> Effects {
    p.alarm(now, |_| None);
    p.poll(now)
}

/// The sockets the effects close.
fn closed(fx: &Effects) -> Vec<SocketId> {
    fx.closes.iter().map(|c| c.socket).collect()
}

/// A throttled count message: its sockets, site counts and room.
#[derive(Debug)]
struct Broadcast {
    sockets: Vec<SocketId>,
    site: Counts,
    room: Option<RoomCounts>,
}

/// The throttled count messages of the effects (not the first message of a new socket).
fn broadcasts(fx: &Effects) -> Vec<Broadcast> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Count {
                site,
                room,
                timing: None,
            } => Some(Broadcast {
                sockets: s.to.clone(),
                site: *site,
                room: room.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The status messages of the effects: (entity, online, sessions, sockets).
fn statuses(fx: &Effects) -> Vec<(String, bool, u32, Vec<SocketId>)> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Status { entity, status } => Some((
                entity.clone(),
                status.online(),
                status.sessions,
                s.to.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn carrier(id: SocketId, session: &str, visitor: u64, room: &str, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: Some(SocketSession {
            session: session.into(),
            visitor: v(visitor),
            room: room.into(),
            entity: None,
            info: None,
            away: false,
        }),
        view: Some(room.into()),
        watch: vec![],
        members: None,
        seen_at: at,
    }
}

fn subscriber(id: SocketId, view: Option<&str>, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: view.map(Into::into),
        watch: vec![],
        members: None,
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

// ----- expiry -----

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

// ----- sockets and sessions -----

#[test]
fn a_clean_close_uncounts_at_once() {
    let mut p = core();
    open(&mut p, 0, carrier(1, "s1", 1, "/", 0)).unwrap();
    close(&mut p, 0, 1);
    assert_eq!(p.site_counts(), counts(0, 0));
    assert!(matches!(
        p.poll(0).writes.as_slice(),
        [Write::Upsert { .. }, Write::Delete { .. }]
    ));
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

// ----- broadcast throttle -----

#[test]
fn a_new_socket_gets_the_current_counts_and_the_timing_at_once() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/x", v(1), Event::Join).unwrap();
    open(&mut p, 1, subscriber(5, Some("/x"), 1)).unwrap();
    let fx = p.poll(1);
    assert_eq!(
        fx.sends.len(),
        1,
        "one first message, no duplicate broadcast"
    );
    assert_eq!(fx.sends[0].to, vec![5]);
    match &fx.sends[0].message {
        Message::Count { site, room, timing } => {
            assert_eq!(*site, counts(1, 1));
            assert_eq!(room.as_ref().unwrap().sessions, 1);
            assert_eq!(
                *timing,
                Some(Timing {
                    heartbeat_ms: HEARTBEAT,
                    ttl_ms: TTL
                })
            );
        }
        other => panic!("expected a count message, got {other:?}"),
    }
}

#[test]
fn a_change_after_a_quiet_interval_goes_out_at_once() {
    let mut p = core();
    open(&mut p, 0, subscriber(1, Some("/"), 0)).unwrap();
    p.poll(0);
    ping(&mut p, 10_000, "s1", "/", v(1), Event::Join).unwrap();
    let out = broadcasts(&p.poll(10_000));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sockets, vec![1]);
    assert_eq!(out[0].site, counts(1, 1));
    assert_eq!(out[0].room.as_ref().unwrap().sessions, 1);
}

#[test]
fn under_churn_each_socket_gets_at_most_one_message_per_interval_and_the_last_state() {
    let mut p = core();
    open(&mut p, 0, subscriber(1, None, 0)).unwrap();
    p.poll(0);
    let mut sent_at = Vec::new();
    let mut last = None;
    let mut t = 1_000;
    let mut wake = None;
    for i in 0..100u64 {
        t += 37; // a change every 37 ms for 3.7 s
        ping(&mut p, t, &format!("s{i}"), "/", v(i), Event::Join).unwrap();
        let fx = p.poll(t);
        for b in broadcasts(&fx) {
            sent_at.push(t);
            last = Some(b.site);
        }
        wake = fx.wake_at;
    }
    // drain the pending broadcast the way the alarm would
    while let Some(w) = wake.filter(|w| *w <= t + INTERVAL) {
        let fx = alarm(&mut p, w);
        for b in broadcasts(&fx) {
            sent_at.push(w);
            last = Some(b.site);
        }
        t = w;
        assert!(
            broadcasts(&p.poll(w)).is_empty(),
            "a second poll at the same time sent again"
        );
        wake = fx.wake_at;
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
    open(&mut p, 0, subscriber(1, None, 0)).unwrap();
    p.poll(0);
    ping(&mut p, 100, "s1", "/", v(1), Event::Join).unwrap();
    let fx = p.poll(100);
    assert!(
        broadcasts(&fx).is_empty(),
        "the open snapshot was sent 100 ms ago"
    );
    assert_eq!(fx.wake_at, Some(INTERVAL));
    let out = broadcasts(&alarm(&mut p, INTERVAL));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].site, counts(1, 1));
}

#[test]
fn nothing_is_sent_when_nothing_changed() {
    let mut p = core();
    open(&mut p, 0, subscriber(1, None, 0)).unwrap();
    p.poll(0);
    ping(&mut p, 1_000, "s1", "/", v(1), Event::Join).unwrap();
    assert_eq!(broadcasts(&p.poll(1_000)).len(), 1);
    ping(&mut p, 2_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert!(broadcasts(&p.poll(2_000)).is_empty());
    // a join and a leave inside one interval cancel out: nothing to say
    ping(&mut p, 3_000, "s2", "/", v(2), Event::Join).unwrap();
    ping(&mut p, 3_001, "s2", "/", v(2), Event::Leave).unwrap();
    assert!(broadcasts(&p.poll(3_001)).is_empty());
}

#[test]
fn sockets_only_hear_about_their_own_room_and_the_site() {
    let mut p = core();
    open(&mut p, 0, subscriber(1, Some("/a"), 0)).unwrap();
    open(&mut p, 0, subscriber(2, Some("/b"), 0)).unwrap();
    open(&mut p, 0, subscriber(3, None, 0)).unwrap();
    p.poll(0);
    ping(&mut p, 1_000, "s1", "/a", v(1), Event::Join).unwrap();
    let mut out = broadcasts(&p.poll(1_000));
    out.sort_by_key(|b| b.sockets[0]);
    // every socket sees the site change; /a's view shows the room too
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].room.as_ref().unwrap().sessions, 1);
    assert_eq!(out[1].room.as_ref().unwrap().sessions, 0);
    assert_eq!(out[2].room, None);
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
        away: false,
        info: None,
        entity_online_since: None,
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
fn a_socket_whose_row_was_lost_is_written_again() {
    let mut p = core();
    p.restore(1_000, vec![], vec![carrier(1, "s9", 3, "/r", 900)]);
    assert_eq!(p.room_counts("/r").sessions, 1);
    assert!(
        matches!(p.poll(1_000).writes.as_slice(), [Write::Upsert { session, .. }] if session == "s9")
    );
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
        let mut open_ids: Vec<SocketId> = Vec::new();
        for _ in 0..400 {
            now += rng.below(3_000);
            let session = format!("s{}", rng.below(12));
            let room = ["/", "/a", "/b"][rng.below(3) as usize];
            let visitor = v(rng.below(6));
            let mut fx = None;
            match rng.below(10) {
                0 => drop(ping(&mut p, now, &session, room, visitor, Event::Join).unwrap()),
                1 | 2 => {
                    drop(ping(&mut p, now, &session, room, visitor, Event::Heartbeat).unwrap())
                }
                3 => drop(ping(&mut p, now, &session, room, visitor, Event::Leave).unwrap()),
                4 => {
                    let spec = if rng.below(2) == 0 {
                        carrier(next_socket, &session, visitor.0, room, now)
                    } else {
                        subscriber(next_socket, Some(room), now)
                    };
                    open(&mut p, now, spec).unwrap();
                    open_ids.push(next_socket);
                    next_socket += 1;
                }
                5 if !open_ids.is_empty() => {
                    let id = open_ids.swap_remove(rng.below(open_ids.len() as u64) as usize);
                    let how = if rng.below(2) == 0 {
                        Closed::Clean
                    } else {
                        Closed::Abnormal
                    };
                    p.socket_closed(now, id, how);
                }
                6 if !open_ids.is_empty() => {
                    let id = open_ids[rng.below(open_ids.len() as u64) as usize];
                    p.socket_seen(id, now);
                }
                7 if !open_ids.is_empty() => {
                    let id = open_ids[rng.below(open_ids.len() as u64) as usize];
                    p.socket_message(now, id, Incoming::Text("ping"));
                }
                _ => fx = Some(alarm(&mut p, now)),
            }
            let fx = fx.unwrap_or_else(|| p.poll(now));
            let gone = closed(&fx);
            open_ids.retain(|id| !gone.contains(id));
            assert_consistent(&p);
            assert_eq!(p.socket_count(), open_ids.len(), "seed {seed}");
            if p.site_counts().sessions > 0 || p.socket_count() > 0 {
                assert!(
                    fx.wake_at.is_some(),
                    "seed {seed}: live state but no wake-up"
                );
            }
        }
        // after everything falls silent, all is gone
        now += SUBSCRIBER_IDLE_MIN_MS.max(TTL * 20) + 1;
        alarm(&mut p, now);
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
    let mut open_ids: Vec<SocketId> = Vec::new();
    for i in 0..2_000u64 {
        now += rng.below(4_000);
        let session = format!("s{}", rng.below(10));
        let room = ["/", "/x"][rng.below(2) as usize];
        let fx = match rng.below(6) {
            0 | 1 => {
                ping(&mut p, now, &session, room, v(1), Event::Heartbeat).unwrap();
                p.poll(now)
            }
            2 => {
                ping(&mut p, now, &session, room, v(1), Event::Leave).unwrap();
                p.poll(now)
            }
            3 => {
                open(&mut p, now, carrier(i, &session, 1, room, now)).unwrap();
                open_ids.push(i);
                p.poll(now)
            }
            4 if !open_ids.is_empty() => {
                close(&mut p, now, open_ids.swap_remove(0));
                p.poll(now)
            }
            _ => alarm(&mut p, now),
        };
        let gone = closed(&fx);
        open_ids.retain(|id| !gone.contains(id));
        for w in fx.writes {
            match w {
                Write::Upsert { session, room, .. } => {
                    table.insert(session, room);
                }
                Write::Delete { session } => {
                    table.remove(&session);
                }
                Write::Confirm { .. }
                | Write::MarkRestored { .. }
                | Write::Entity(..)
                | Write::Webhook(..)
                | Write::History(..) => {}
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
        members: None,
        seen_at: at,
    }
}

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
    ping_as(&mut p, 300, "s2", "/", v(2), Event::Leave, None).unwrap();
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
fn a_heartbeat_without_entity_keeps_the_sessions_entity_and_writes_nothing() {
    let mut p = core();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(0);
    ping(&mut p, 1_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert!(p.poll(1_000).writes.is_empty());
    assert_eq!(p.entity_status("user:1").unwrap().last_seen, Some(1_000));
    // switching entity on the same session ends one and starts the other
    ping_as(
        &mut p,
        2_000,
        "s1",
        "/",
        v(1),
        Event::Heartbeat,
        Some("user:2"),
    )
    .unwrap();
    assert_eq!(p.entity_status("user:2").unwrap().sessions, 1);
    assert!(
        p.entity_status("user:1").unwrap().online(),
        "user:1 is in its grace"
    );
    alarm(&mut p, 2_000 + GRACE);
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

// ----- ceilings -----

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

// ----- away, members, info -----

fn away_ping(p: &mut Presence, now: Millis, session: &str, entity: Option<&str>) {
    let room = p.session_room(session).unwrap_or("/").to_owned();
    ping_as(p, now, session, &room, v(1), Event::Away, entity).unwrap();
}

#[test]
fn an_entitys_hidden_tab_stops_counting_at_once_and_shows_away_after_the_grace() {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:1"], 0)).unwrap();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(0);
    away_ping(&mut p, 1_000, "s1", None);
    assert_eq!(
        p.site_counts(),
        counts(0, 0),
        "an away session counts nowhere"
    );
    assert!(p.is_live("s1") && p.is_away("s1"));
    let fx = p.poll(1_000);
    assert!(
        statuses(&fx).is_empty(),
        "the grace holds what watchers see"
    );
    assert!(matches!(
        fx.writes.as_slice(),
        [Write::Upsert { away: true, .. }, ..]
    ));
    let fx = alarm(&mut p, 1_000 + GRACE);
    let st = p.entity_status("user:1").unwrap();
    assert_eq!((st.state, st.online(), st.sessions), (State::Away, true, 1));
    assert_eq!(statuses(&fx), [("user:1".into(), true, 1, vec![10])]);
    // a heartbeat brings it back at once
    ping(&mut p, 10_000, "s1", "/", v(1), Event::Heartbeat).unwrap();
    assert_eq!(p.site_counts(), counts(1, 1));
    assert_eq!(p.entity_status("user:1").unwrap().state, State::Online);
    assert_consistent(&p);
}

#[test]
fn an_away_session_lives_for_the_away_ttl_and_then_ends() {
    let mut p = core();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    away_ping(&mut p, 1_000, "s1", None);
    assert!(p.poll(1_000).wake_at.is_some());
    alarm(&mut p, 1_000 + TTL + 1);
    assert!(p.is_live("s1"), "an away session outlives the ttl");
    let fx = alarm(&mut p, 1_000 + AWAY_TTL);
    assert!(!p.is_live("s1"));
    assert!(fx.writes.iter().any(|w| matches!(w, Write::Delete { .. })));
    alarm(&mut p, 1_000 + AWAY_TTL + GRACE);
    assert_eq!(p.entity_status("user:1"), None, "offline after the grace");
}

#[test]
fn an_anonymous_page_that_goes_away_leaves() {
    let mut p = core();
    ping(&mut p, 0, "s1", "/", v(1), Event::Join).unwrap();
    away_ping(&mut p, 1_000, "s1", None);
    assert!(!p.is_live("s1"));
    away_ping(&mut p, 2_000, "ghost", None);
    assert!(
        !p.is_live("ghost"),
        "an away for an unknown anonymous session changes nothing"
    );
    assert!(p
        .poll(2_000)
        .writes
        .iter()
        .all(|w| !matches!(w, Write::Upsert { session, .. } if session == "ghost")));
}

#[test]
fn a_socket_session_goes_away_and_back_by_text_and_its_attachment_is_told() {
    let mut p = core();
    open(&mut p, 0, carrier_as(1, "s1", "user:1", 0)).unwrap();
    p.poll(0);
    p.socket_message(1_000, 1, Incoming::Text("away"));
    let fx = p.poll(1_000);
    assert_eq!(fx.marks, vec![(1, true)]);
    assert_eq!(p.site_counts().sessions, 0);
    assert_eq!(
        fx.wake_at,
        Some(1_000 + GRACE),
        "the grace first; the socket may now stay quiet"
    );
    // throttled background timers: a ping a minute keeps it, past the ttl
    alarm(&mut p, 1_000 + TTL + 10);
    assert!(p.is_live("s1"));
    p.socket_message(70_000, 1, Incoming::Text("back"));
    let fx = p.poll(70_000);
    assert_eq!(fx.marks, vec![(1, false)]);
    assert_eq!(p.site_counts().sessions, 1);
    // an anonymous socket session that goes away ends; the socket stays a subscriber
    open(&mut p, 70_000, carrier(2, "s2", 2, "/", 70_000)).unwrap();
    p.socket_message(70_001, 2, Incoming::Text("away"));
    assert!(!p.is_live("s2"));
    assert_eq!(p.socket_count(), 2);
}

#[test]
fn a_restored_away_session_stays_away_with_its_away_hold() {
    let mut p = core();
    let mut r = row("s1", "/", 1, None);
    r.entity = Some("user:1".into());
    r.away = true;
    r.entity_online_since = Some(500);
    p.restore(1_000, vec![r], vec![]);
    assert_eq!(p.site_counts(), counts(0, 0));
    let st = p.entity_status("user:1").unwrap();
    assert_eq!((st.state, st.online_since), (State::Away, Some(500)));
    alarm(&mut p, 1_000 + TTL + 1);
    assert!(p.is_live("s1"));
}

fn members_watcher(id: SocketId, room: &str, at: Millis) -> SocketSpec {
    SocketSpec {
        id,
        session: None,
        view: None,
        watch: vec![],
        members: Some(room.into()),
        seen_at: at,
    }
}

/// A members message: its sockets, `(entity, state, sessions)` of each member, anonymous.
type MembersSent = (Vec<SocketId>, Vec<(String, State, u32)>, Counts);

/// The members messages of the effects.
fn members_of(fx: &Effects) -> Vec<MembersSent> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Members {
                members, anonymous, ..
            } => Some((
                s.to.clone(),
                members
                    .iter()
                    .map(|m| (m.entity.to_string(), m.state, m.sessions))
                    .collect(),
                *anonymous,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_members_feed_follows_joins_moves_away_and_anonymous_sessions_throttled() {
    let mut p = core();
    ping_as(&mut p, 0, "a", "/docs", v(1), Event::Join, Some("user:1")).unwrap();
    ping(&mut p, 0, "x", "/docs", v(9), Event::Join).unwrap();
    p.poll(0);
    open(&mut p, 100, members_watcher(5, "/docs", 100)).unwrap();
    let first = members_of(&p.poll(100));
    assert_eq!(
        first,
        [(
            vec![5],
            vec![("user:1".into(), State::Online, 1)],
            counts(1, 1)
        )]
    );
    // a join inside the interval waits for it
    ping_as(&mut p, 200, "b", "/docs", v(2), Event::Join, Some("user:2")).unwrap();
    let fx = p.poll(200);
    assert!(members_of(&fx).is_empty());
    assert_eq!(fx.wake_at, Some(100 + INTERVAL));
    let out = members_of(&alarm(&mut p, 100 + INTERVAL));
    assert_eq!(out[0].1.len(), 2);
    // moving out of the room, going away, anonymous leaving: each shows
    ping_as(&mut p, 2_000, "b", "/api", v(2), Event::Heartbeat, None).unwrap();
    assert_eq!(
        members_of(&p.poll(2_000))[0].1,
        [("user:1".into(), State::Online, 1)]
    );
    away_ping(&mut p, 3_000, "a", None);
    assert!(
        members_of(&p.poll(3_000)).is_empty(),
        "away shows after the grace"
    );
    let out = members_of(&alarm(&mut p, 3_000 + GRACE));
    assert_eq!(out[0].1, [("user:1".into(), State::Away, 1)]);
    ping(&mut p, 9_000, "x", "/docs", v(9), Event::Leave).unwrap();
    assert_eq!(members_of(&p.poll(9_000))[0].2, counts(0, 0));
    // changes elsewhere send nothing
    ping(&mut p, 20_000, "y", "/other", v(8), Event::Join).unwrap();
    assert!(members_of(&p.poll(20_000)).is_empty());
}

#[test]
fn info_from_the_token_shows_in_status_and_members_and_is_stored() {
    let mut p = core();
    let info = r#"{"name":"Ada","avatar":"https://example.com/a.png"}"#;
    p.ping(
        0,
        Ping {
            session: "s1",
            room: "/docs",
            visitor: v(1),
            event: Event::Join,
            entity: Some("user:1"),
            info: Some(info),
        },
    )
    .unwrap();
    let fx = p.poll(0);
    assert!(fx
        .writes
        .iter()
        .any(|w| matches!(w, Write::Upsert { info: Some(i), .. } if i == info)));
    assert!(fx
        .writes
        .iter()
        .any(|w| matches!(w, Write::Entity(r) if r.info.as_deref() == Some(info))));
    assert_eq!(
        p.entity_status("user:1").unwrap().info.as_deref(),
        Some(info)
    );
    assert_eq!(p.members("/docs").0[0].info.as_deref(), Some(info));
    // offline: the stored info still shows
    let off = p.statuses(&["user:9".into()], |_| StoredEntity {
        last_seen: Some(5),
        info: Some(info.into()),
    });
    assert_eq!(off[0].1.info.as_deref(), Some(info));
    assert_eq!(off[0].1.state, State::Offline);
}

#[test]
fn random_sequences_with_entities_and_away_keep_every_invariant() {
    for seed in 1..=100u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let mut p = core();
        let mut now: Millis = 0;
        let mut open_ids: Vec<SocketId> = Vec::new();
        let mut next_socket = 1;
        for _ in 0..400 {
            now += rng.below(20_000);
            let session = format!("s{}", rng.below(10));
            let room = ["/", "/a"][rng.below(2) as usize];
            let entity = ["user:1", "user:2"][rng.below(2) as usize];
            let with = (rng.below(2) == 0).then_some(entity);
            let visitor = v(rng.below(4));
            let fx = match rng.below(8) {
                0 | 1 => {
                    ping_as(&mut p, now, &session, room, visitor, Event::Heartbeat, with).unwrap();
                    p.poll(now)
                }
                2 => {
                    ping_as(&mut p, now, &session, room, visitor, Event::Away, with).unwrap();
                    p.poll(now)
                }
                3 => {
                    ping(&mut p, now, &session, room, visitor, Event::Leave).unwrap();
                    p.poll(now)
                }
                4 => {
                    let spec = carrier_as(next_socket, &session, entity, now);
                    open(&mut p, now, spec).unwrap();
                    open_ids.push(next_socket);
                    next_socket += 1;
                    p.poll(now)
                }
                5 if !open_ids.is_empty() => {
                    let id = open_ids[rng.below(open_ids.len() as u64) as usize];
                    let word = ["away", "back", "ping"][rng.below(3) as usize];
                    p.socket_message(now, id, Incoming::Text(word));
                    p.poll(now)
                }
                6 if !open_ids.is_empty() => {
                    let id = open_ids.swap_remove(rng.below(open_ids.len() as u64) as usize);
                    p.socket_closed(now, id, Closed::Clean);
                    p.poll(now)
                }
                _ => alarm(&mut p, now),
            };
            let gone = closed(&fx);
            open_ids.retain(|id| !gone.contains(id));
            assert_consistent(&p);
            for e in ["user:1", "user:2"] {
                if let Some(st) = p.entity_status(e) {
                    assert!(st.online_since.is_some(), "seed {seed}: {st:?}");
                }
            }
        }
        now += AWAY_TTL * 3 + SUBSCRIBER_IDLE_MIN_MS.max(TTL * 20);
        alarm(&mut p, now);
        alarm(&mut p, now + GRACE);
        assert_eq!(p.session_count(), 0, "seed {seed}");
        assert_eq!(p.entity_status("user:1"), None, "seed {seed}");
        assert_eq!(p.entity_status("user:2"), None, "seed {seed}");
        assert!(
            p.members("/").0.is_empty() && p.members("/a").0.is_empty(),
            "seed {seed}"
        );
        assert_eq!(p.members("/").2, counts(0, 0), "seed {seed}");
    }
}

#[test]
fn entity_changes_become_webhooks_and_a_reload_in_the_grace_sends_none() {
    let mut p = core();
    let all = WebhookEvents {
        online: true,
        away: true,
        offline: true,
    };
    p.enable_webhooks("shop", all, "t", vec![]);
    let queued = |fx: &Effects| -> Vec<String> {
        fx.writes
            .iter()
            .filter_map(|w| match w {
                Write::Webhook(QueueChange::Added(d)) => {
                    let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
                    Some(v["type"].as_str().unwrap().to_owned())
                }
                _ => None,
            })
            .collect()
    };
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    let fx = p.poll(0);
    assert_eq!(queued(&fx), ["entity.online"]);
    assert_eq!(fx.wake_at, Some(0), "due at once");
    // a reload: leave and join again inside the grace
    ping(&mut p, 100, "s1", "/", v(1), Event::Leave).unwrap();
    ping_as(&mut p, 300, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    assert!(queued(&p.poll(300)).is_empty());
    assert!(queued(&alarm(&mut p, 100 + GRACE)).is_empty());
    // delivered: it leaves the queue
    let due = p.due_webhooks(400);
    assert_eq!(due.len(), 1);
    p.webhook_answered(&due[0].id, Outcome::Delivered, 410);
    assert!(p.poll(410).writes.iter().any(|w| matches!(
        w,
        Write::Webhook(QueueChange::Removed {
            given_up: false,
            ..
        })
    )));
    ping(&mut p, 1_000, "s1", "/", v(1), Event::Leave).unwrap();
    assert!(queued(&p.poll(1_000)).is_empty());
    assert_eq!(queued(&alarm(&mut p, 1_000 + GRACE)), ["entity.offline"]);
}

#[test]
fn history_stores_one_row_per_changed_minute_and_wakes_to_store_the_last_one() {
    let mut p = Presence::new(Config {
        history: true,
        ..p_config()
    });
    let m0 = 1_795_428_420_000; // a minute start
    ping(&mut p, m0 + 5_000, "a", "/", v(1), Event::Join).unwrap();
    ping(&mut p, m0 + 6_000, "b", "/", v(2), Event::Join).unwrap();
    let fx = p.poll(m0 + 6_000);
    assert!(!fx.writes.iter().any(|w| matches!(w, Write::History(_))));
    assert!(
        fx.wake_at.is_some_and(|w| w <= m0 + 60_000),
        "woken by the minute's end at the latest"
    );
    ping(&mut p, m0 + 7_000, "b", "/", v(2), Event::Leave).unwrap();
    p.poll(m0 + 7_000);
    for t in [m0 + 10_000, m0 + 20_000] {
        ping(&mut p, t, "a", "/", v(1), Event::Heartbeat).unwrap();
        assert!(p.poll(t).writes.is_empty(), "heartbeats write nothing");
    }
    let fx = alarm(&mut p, m0 + 60_000);
    let rows: Vec<_> = fx
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::History(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].t, rows[0].max, rows[0].close),
        (m0, counts(2, 2), counts(1, 1))
    );
    assert_eq!(
        p.history_pending(),
        None,
        "a quiet minute has nothing to store"
    );
}

fn p_config() -> Config {
    Config {
        heartbeat_ms: HEARTBEAT,
        ttl_ms: TTL,
        broadcast_interval_ms: INTERVAL,
        leave_grace_ms: GRACE,
        away_ttl_ms: AWAY_TTL,
        history: false,
        shard: 0,
        shards: 1,
        limits: Limits::default(),
    }
}

// ----- a site over many objects -----

/// A coordinator and K-1 shards, their reports and pushes carried in-process like the edge.
struct Site {
    objects: Vec<Presence>,
}

impl Site {
    fn new(k: u32) -> Site {
        Site::with_limits(k, Limits::default())
    }

    fn with_limits(k: u32, limits: Limits) -> Site {
        let objects = (0..k)
            .map(|i| {
                let mut p = Presence::new(Config {
                    shard: i,
                    shards: k,
                    history: i == 0,
                    limits,
                    ..p_config()
                });
                p.set_instance(1000 + u64::from(i));
                p.set_shard(i, k);
                p
            })
            .collect();
        Site { objects }
    }

    /// Polls every object from `now` through two broadcast intervals (the throttled reports
    /// and pushes), carrying reports and pushes; answers the count messages each object sent.
    fn settle(&mut self, now: Millis) -> Vec<Vec<Broadcast>> {
        let mut sent: Vec<Vec<Broadcast>> = self.objects.iter().map(|_| Vec::new()).collect();
        for t in [now, now + INTERVAL, now + 2 * INTERVAL] {
            let more = self.settle_at(t);
            for (all, new) in sent.iter_mut().zip(more) {
                all.extend(new);
            }
        }
        sent
    }

    fn settle_at(&mut self, now: Millis) -> Vec<Vec<Broadcast>> {
        let mut sent: Vec<Vec<Broadcast>> = self.objects.iter().map(|_| Vec::new()).collect();
        for _ in 0..10 {
            let mut moved = false;
            #[allow(clippy::needless_range_loop)] // objects[0] is borrowed again inside
            for i in 0..self.objects.len() {
                let fx = self.objects[i].poll(now);
                sent[i].extend(broadcasts(&fx));
                if let Some(report) = fx.report {
                    moved = true;
                    let totals = self.objects[0].receive_report(now, report);
                    self.objects[i].report_answered(now, Some(totals));
                }
                for (shard, totals) in fx.pushes {
                    moved = true;
                    if let Some(o) = self.objects.get_mut(shard as usize) {
                        o.totals_pushed(totals);
                    }
                }
            }
            if !moved {
                break;
            }
        }
        sent
    }

    fn place(&self, visitor: &str) -> usize {
        shards::place(self.objects.len() as u32, visitor) as usize
    }

    fn join(&mut self, now: Millis, session: &str, visitor: &str, room: &str) {
        self.send(now, session, visitor, room, Event::Join);
    }

    fn send(
        &mut self,
        now: Millis,
        session: &str,
        visitor: &str,
        room: &str,
        event: Event,
    ) -> Snapshot {
        let i = self.place(visitor);
        let key = VisitorKey(hash(visitor));
        ping(&mut self.objects[i], now, session, room, key, event).unwrap()
    }
}

fn hash(s: &str) -> u64 {
    s.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

#[test]
fn a_sharded_site_counts_exactly_what_one_object_would() {
    let mut site = Site::new(4);
    let mut single = core();
    let mut rng = Rng(42);
    let mut now = 1_000;
    for n in 0..2_000 {
        now += 5;
        let visitor = format!("v{}", rng.below(600));
        let room = format!("/r{}", rng.below(30));
        let session = format!("s{n}");
        site.join(now, &session, &visitor, &room);
        ping(
            &mut single,
            now,
            &session,
            &room,
            VisitorKey(hash(&visitor)),
            Event::Join,
        )
        .unwrap();
    }
    site.settle(now);
    let coordinator = &site.objects[0];
    assert_eq!(
        coordinator.site_counts(),
        single.site_counts(),
        "site sessions and visitors"
    );
    assert_eq!(
        coordinator.top_rooms(1000),
        single.top_rooms(1000),
        "every room, merged"
    );
    for r in 0..30 {
        let room = format!("/r{r}");
        assert_eq!(coordinator.room_counts(&room), single.room_counts(&room));
    }
    // every shard shows the same totals to its sockets
    for o in &site.objects[1..] {
        assert_eq!(o.site_counts(), single.site_counts());
    }
}

#[test]
fn a_subscriber_on_a_shard_sees_joins_on_other_shards_and_its_own_at_once() {
    let mut site = Site::new(3);
    open(&mut site.objects[2], 0, subscriber(9, Some("/a"), 0)).unwrap();
    site.settle(0);
    // a visitor placed on another shard than 2
    let visitor = (0..100)
        .map(|i| format!("v{i}"))
        .find(|v| site.place(v) == 1)
        .unwrap();
    site.join(1_000, "s1", &visitor, "/a");
    let sent = site.settle(1_000);
    let last = sent[2].last().expect("shard 2 told its socket");
    assert_eq!(last.site, counts(1, 1));
    assert_eq!(last.room.as_ref().unwrap().sessions, 1);
    // a join on shard 2 itself shows before any report round trip
    let own = (0..100)
        .map(|i| format!("w{i}"))
        .find(|v| site.place(v) == 2)
        .unwrap();
    site.join(2_000, "s2", &own, "/a");
    let fx = site.objects[2].poll(2_000);
    let b = broadcasts(&fx);
    assert_eq!(b.last().unwrap().site, counts(2, 2), "its own join at once");
}

#[test]
fn entity_status_lives_on_the_coordinator_whatever_shard_holds_the_session() {
    let mut site = Site::new(3);
    open(&mut site.objects[0], 0, watcher(50, &["user:1"], 0)).unwrap();
    site.settle(0);
    let visitor = (0..100)
        .map(|i| format!("v{i}"))
        .find(|v| site.place(v) == 2)
        .unwrap();
    ping_as(
        &mut site.objects[2],
        100,
        "s1",
        "/",
        VisitorKey(1),
        Event::Join,
        Some("user:1"),
    )
    .unwrap();
    let _ = visitor;
    site.settle(100);
    let st = site.objects[0]
        .entity_status("user:1")
        .expect("known to the coordinator");
    assert_eq!((st.state, st.sessions), (State::Online, 1));
    // a second device on another shard: sessions 2
    ping_as(
        &mut site.objects[1],
        200,
        "s2",
        "/",
        VisitorKey(2),
        Event::Join,
        Some("user:1"),
    )
    .unwrap();
    site.settle(700);
    assert_eq!(site.objects[0].entity_status("user:1").unwrap().sessions, 2);
    // both leave: offline after the grace, on the coordinator's clock
    ping(
        &mut site.objects[2],
        1_000,
        "s1",
        "/",
        VisitorKey(1),
        Event::Leave,
    )
    .unwrap();
    ping(
        &mut site.objects[1],
        1_000,
        "s2",
        "/",
        VisitorKey(2),
        Event::Leave,
    )
    .unwrap();
    site.settle(1_600);
    assert!(
        site.objects[0].entity_status("user:1").unwrap().online(),
        "in its grace"
    );
    alarm(&mut site.objects[0], 1_600 + GRACE);
    assert_eq!(site.objects[0].entity_status("user:1"), None, "offline");
}

#[test]
fn a_restarted_shard_comes_back_whole_and_a_silent_one_stops_counting() {
    let mut site = Site::new(3);
    ping_as(
        &mut site.objects[1],
        0,
        "s1",
        "/",
        VisitorKey(1),
        Event::Join,
        Some("user:1"),
    )
    .unwrap();
    ping(
        &mut site.objects[2],
        0,
        "s2",
        "/",
        VisitorKey(2),
        Event::Join,
    )
    .unwrap();
    site.settle(0);
    assert_eq!(site.objects[0].site_counts(), counts(2, 2));
    // shard 1 restarts: its rows come back, and its full entity list
    let rows = vec![StoredSession {
        entity: Some("user:1".into()),
        ..row("s1", "/", 1, None)
    }];
    let mut again = Presence::new(Config {
        shard: 1,
        shards: 3,
        history: false,
        ..p_config()
    });
    again.set_shard(1, 3);
    again.restore(5_000, rows, vec![]);
    site.objects[1] = again;
    site.settle(5_000);
    assert_eq!(site.objects[0].site_counts(), counts(2, 2), "nothing lost");
    assert_eq!(site.objects[0].entity_status("user:1").unwrap().sessions, 1);
    // shard 2 goes silent (gone): its report expires; shard 1 keeps reporting
    let ttl = shards::REPORT_TTL_MS;
    let mut t = 5_000;
    while t < 5_000 + ttl + 1_000 {
        t += 1_000;
        let fx = site.objects[1].poll(t);
        if let Some(report) = fx.report {
            let totals = site.objects[0].receive_report(t, report);
            site.objects[1].report_answered(t, Some(totals));
        }
    }
    alarm(&mut site.objects[0], t);
    assert_eq!(
        site.objects[0].site_counts(),
        counts(1, 1),
        "the silent shard no longer counts"
    );
}

#[test]
fn a_restarted_coordinator_greets_its_shards_and_learns_their_entities_again() {
    let mut site = Site::new(3);
    ping_as(
        &mut site.objects[2],
        0,
        "s1",
        "/",
        VisitorKey(1),
        Event::Join,
        Some("user:7"),
    )
    .unwrap();
    open(&mut site.objects[2], 0, subscriber(3, None, 0)).unwrap();
    site.settle(0);
    let mut fresh = Presence::new(Config {
        shard: 0,
        shards: 3,
        history: true,
        ..p_config()
    });
    fresh.set_instance(99);
    fresh.set_shard(0, 3);
    fresh.restore(10_000, vec![], vec![]);
    site.objects[0] = fresh;
    assert_eq!(
        site.objects[0].entity_status("user:7"),
        None,
        "it knows nothing yet"
    );
    site.settle(10_000);
    assert_eq!(site.objects[0].entity_status("user:7").unwrap().sessions, 1);
    assert_eq!(site.objects[0].site_counts(), counts(1, 1));
}

#[test]
fn max_rooms_holds_for_the_site_not_per_object_and_a_named_room_is_never_split() {
    const MAX: usize = 5;
    let limits = Limits {
        max_rooms: MAX,
        ..Limits::default()
    };
    let mut site = Site::with_limits(4, limits);
    // 12 rooms, room r with r + 1 sessions, its visitors spread over every object
    let mut sessions: Vec<(String, String, String)> = Vec::new();
    let mut now = 1_000;
    for r in 0..12u32 {
        for n in 0..=r {
            now += 3;
            let (s, v, room) = (format!("s{r}_{n}"), format!("v{r}_{n}"), format!("/r{r}"));
            site.join(now, &s, &v, &room);
            sessions.push((s, v, room));
        }
    }
    site.settle(now);
    let truth = |sessions: &[(String, String, String)], room: &str| {
        sessions.iter().filter(|(_, _, r)| r == room).count() as u32
    };
    let check = |site: &Site, sessions: &[(String, String, String)], what: &str| {
        let coordinator = &site.objects[0];
        let list = coordinator.top_rooms(1_000);
        let named: Vec<&RoomCounts> = list.iter().filter(|r| r.room != OVERFLOW_ROOM).collect();
        assert!(
            named.len() <= MAX,
            "{what}: at most MAX_ROOMS named rooms: {list:?}"
        );
        let total: u32 = list.iter().map(|r| r.sessions).sum();
        assert_eq!(
            total,
            sessions.len() as u32,
            "{what}: the list holds every session"
        );
        assert_eq!(coordinator.site_counts().sessions, sessions.len() as u32);
        for r in &named {
            assert_eq!(
                r.sessions,
                truth(sessions, &r.room),
                "{what}: {} whole, on every object",
                r.room
            );
            assert_eq!(coordinator.room_counts(&r.room).sessions, r.sessions);
        }
        let other = list
            .iter()
            .find(|r| r.room == OVERFLOW_ROOM)
            .map_or(0, |r| r.sessions);
        assert_eq!(
            coordinator.room_counts(OVERFLOW_ROOM).sessions,
            other,
            "{what}: ~other"
        );
        named.iter().map(|r| r.room.clone()).collect::<Vec<_>>()
    };
    // the heartbeats after the site filled move what an object had grouped on its own into
    // the named rooms
    now += HEARTBEAT;
    for (s, v, room) in sessions.clone() {
        site.send(now, &s, &v, &room, Event::Heartbeat);
    }
    site.settle(now);
    let named = check(&site, &sessions, "after a heartbeat");
    assert_eq!(named.len(), MAX, "the site is full: every slot taken");
    // a new room on any object is counted in the group, and its ping answer says so
    for i in 0..20 {
        now += 1;
        let v = format!("late{i}");
        let s = format!("late_s{i}");
        let answer = site.send(now, &s, &v, "/brand-new", Event::Join);
        let room = answer.room.expect("a room answer");
        assert_eq!(
            room.grouped_as.as_deref(),
            Some(OVERFLOW_ROOM),
            "object {}",
            site.place(&v)
        );
        sessions.push((s, v, "/brand-new".to_owned()));
    }
    site.settle(now);
    let again = check(&site, &sessions, "after new rooms");
    assert_eq!(again, named, "named rooms keep their slots");
    assert_eq!(
        site.objects[0].room_counts("/brand-new").sessions,
        0,
        "counted in the group"
    );
    // a named room empties: its slot goes to the busiest room some object still counts by
    // its name (a room grouped everywhere waits, as on one object, for a free slot)
    let gone = named[named.len() - 1].clone();
    now += 10;
    for (s, v, room) in sessions.iter().filter(|(_, _, r)| *r == gone) {
        site.send(now, s, v, room, Event::Leave);
    }
    sessions.retain(|(_, _, r)| *r != gone);
    site.settle(now);
    now += HEARTBEAT;
    for (s, v, room) in sessions.clone() {
        site.send(now, &s, &v, &room, Event::Heartbeat);
    }
    site.settle(now);
    let after = check(&site, &sessions, "after a slot freed");
    assert!(!after.contains(&gone));
    assert_eq!(after.len(), MAX, "the free slot was given again: {after:?}");
    assert!(
        named
            .iter()
            .filter(|r| **r != gone)
            .all(|r| after.contains(r)),
        "the others kept theirs"
    );
    // every shard learned the site's list (a room's totals on a shard read the same)
    for o in &site.objects[1..] {
        assert_eq!(o.site_counts().sessions, sessions.len() as u32);
    }
    // back under the cap: nothing is grouped, and a new room keeps its name on every object
    let keep: Vec<String> = after[..3].to_vec();
    now += 10;
    for (s, v, room) in sessions.iter().filter(|(_, _, r)| !keep.contains(r)) {
        site.send(now, s, v, room, Event::Leave);
    }
    sessions.retain(|(_, _, r)| keep.contains(r));
    site.settle(now);
    let list = site.objects[0].top_rooms(1_000);
    assert!(list.iter().all(|r| r.room != OVERFLOW_ROOM), "{list:?}");
    assert_eq!(list.len(), 3);
    for i in 0..8 {
        now += 1;
        let answer = site.send(
            now,
            &format!("n{i}"),
            &format!("nv{i}"),
            "/fresh",
            Event::Join,
        );
        assert_eq!(
            answer.room.and_then(|r| r.grouped_as),
            None,
            "not full: named everywhere"
        );
    }
    site.settle(now);
    assert_eq!(site.objects[0].room_counts("/fresh").sessions, 8);
}
