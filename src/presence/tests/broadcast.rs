//! The broadcast throttle.

use super::*;

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
                    ttl_ms: TTL,
                    signal_ttl_ms: SIGNAL_TTL,
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
        wake = fx.flush_at;
    }
    // drain the pending broadcast the way the edge's timer would
    while let Some(w) = wake.filter(|w| *w <= t + INTERVAL) {
        let fx = p.poll(w);
        for b in broadcasts(&fx) {
            sent_at.push(w);
            last = Some(b.site);
        }
        t = w;
        assert!(
            broadcasts(&p.poll(w)).is_empty(),
            "a second poll at the same time sent again"
        );
        wake = fx.flush_at;
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
    assert_eq!(fx.flush_at, Some(INTERVAL));
    // a timer in memory, not the alarm: the alarm waits for the first real deadline
    assert!(
        fx.wake_at.is_none_or(|w| w > INTERVAL),
        "the throttle moved the alarm: {:?}",
        fx.wake_at
    );
    let out = broadcasts(&p.poll(INTERVAL));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].site, counts(1, 1));
    assert_eq!(p.poll(INTERVAL).flush_at, None, "nothing pending");
}

#[test]
fn socket_sessions_coming_and_going_write_nothing_and_never_move_the_alarm_earlier() {
    // Page views as the tracker makes them: each a socket session that pings and closes. The
    // alarm (each `setAlarm` is billed as a row written) is wanted only at the first silence
    // deadline, which a new socket never moves earlier; the throttle waits in memory.
    let mut p = core();
    open(&mut p, 0, subscriber(1, None, 0)).unwrap();
    let mut armed = p.poll(0).wake_at;
    let mut moves = 0;
    let mut rows = 0;
    let mut t = 0;
    for i in 0..200u64 {
        t += 37;
        let id = 100 + i;
        open(&mut p, t, carrier(id, &format!("s{i}"), i, "/", t)).unwrap();
        if i >= 5 {
            close(&mut p, t, id - 5);
        }
        let fx = p.poll(t);
        rows += fx.writes.len();
        if let Some(w) = fx.wake_at {
            if armed.is_none_or(|a| a <= t || w < a) {
                armed = Some(w);
                moves += 1;
            }
        }
    }
    assert!(
        moves <= 1,
        "the alarm moved {moves} times for 200 page views"
    );
    // and their sockets' attachments keep them: no row written either
    assert_eq!(rows, 0, "rows written for 200 anonymous page views");
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
