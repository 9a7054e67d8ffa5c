//! Signals (`typing`): their lifetime (begin, renew, end, expiry, the session's end), their
//! limits and refusals, over pings and sockets, in status and members, on one object and a
//! sharded site.

use super::*;

fn signal_ping(
    p: &mut Presence,
    now: Millis,
    session: &str,
    entity: Option<&str>,
    name: &str,
    on: bool,
) -> Result<Snapshot, Refusal> {
    p.ping(
        now,
        Ping {
            session,
            room: "/",
            visitor: v(1),
            address: address_of(v(1)),
            event: if on { Event::Signal } else { Event::SignalEnd },
            entity,
            info: None,
            signal: Some(name),
        },
    )
}

/// The signals each status message shows: (entity, signals, sockets).
fn signal_statuses(fx: &Effects) -> Vec<(String, Vec<String>, Vec<SocketId>)> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Status { entity, status } => Some((
                entity.clone(),
                status.signals.iter().map(|n| n.to_string()).collect(),
                s.to.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The error messages sent to sockets: (code, the signal they name, sockets).
fn errors(fx: &Effects) -> Vec<(&'static str, Option<&str>, Vec<SocketId>)> {
    fx.sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Error { code, signal, .. } => Some((*code, signal.as_deref(), s.to.clone())),
            _ => None,
        })
        .collect()
}

fn typing(entity: &str, sockets: &[SocketId]) -> (String, Vec<String>, Vec<SocketId>) {
    (entity.into(), vec!["typing".into()], sockets.to_vec())
}

fn quiet(entity: &str, sockets: &[SocketId]) -> (String, Vec<String>, Vec<SocketId>) {
    (entity.into(), vec![], sockets.to_vec())
}

/// A core with user:1 online on session s1 and a watcher (10) of user:1.
fn watched() -> Presence {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:1"], 0)).unwrap();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(0);
    p
}

#[test]
fn a_signal_shows_at_once_renewals_send_nothing_and_it_ends_after_its_ttl() {
    let mut p = watched();
    signal_ping(&mut p, 100, "s1", Some("user:1"), "typing", true).unwrap();
    let fx = p.poll(100);
    assert_eq!(signal_statuses(&fx), [typing("user:1", &[10])]);
    assert!(fx.writes.is_empty(), "a signal is never stored");
    assert_eq!(fx.wake_at.map(|w| w <= 100 + SIGNAL_TTL), Some(true));
    assert_eq!(
        p.entity_status("user:1").unwrap().signals,
        [Rc::from("typing")]
    );
    // renewed within its ttl: nothing to tell
    signal_ping(&mut p, 3_000, "s1", Some("user:1"), "typing", true).unwrap();
    let fx = p.poll(3_000);
    assert!(signal_statuses(&fx).is_empty(), "a renewal sends nothing");
    assert!(fx.writes.is_empty());
    // it lasts a ttl from the renewal, not from the start
    assert!(signal_statuses(&alarm(&mut p, 100 + SIGNAL_TTL)).is_empty());
    let fx = alarm(&mut p, 3_000 + SIGNAL_TTL);
    assert_eq!(signal_statuses(&fx), [quiet("user:1", &[10])]);
    let st = p.entity_status("user:1").unwrap();
    assert!(
        st.online() && st.signals.is_empty(),
        "online, no longer typing"
    );
}

#[test]
fn a_signal_ends_when_told_and_when_its_session_ends() {
    let mut p = watched();
    signal_ping(&mut p, 100, "s1", Some("user:1"), "typing", true).unwrap();
    p.poll(100);
    signal_ping(&mut p, 200, "s1", Some("user:1"), "typing", false).unwrap();
    assert_eq!(signal_statuses(&p.poll(200)), [quiet("user:1", &[10])]);
    // ending one it does not hold changes nothing
    signal_ping(&mut p, 300, "s1", Some("user:1"), "typing", false).unwrap();
    assert!(signal_statuses(&p.poll(300)).is_empty());
    // the session leaves while typing: the signal goes at once, the state keeps its grace
    signal_ping(&mut p, 400, "s1", Some("user:1"), "typing", true).unwrap();
    p.poll(400);
    ping_as(&mut p, 500, "s1", "/", v(1), Event::Leave, Some("user:1")).unwrap();
    let fx = p.poll(500);
    assert_eq!(signal_statuses(&fx), [quiet("user:1", &[10])]);
    assert!(p.entity_status("user:1").unwrap().online(), "in its grace");
    // offline after the grace, and nothing more when the signal's ttl would have run out
    assert_eq!(
        signal_statuses(&alarm(&mut p, 500 + GRACE)),
        [quiet("user:1", &[10])]
    );
    assert!(!p.entity_status("user:1").is_some_and(|s| s.online()));
    assert!(signal_statuses(&alarm(&mut p, 400 + SIGNAL_TTL)).is_empty());
}

#[test]
fn two_sessions_of_one_entity_show_each_signal_once() {
    let mut p = watched();
    ping_as(&mut p, 10, "s2", "/", v(1), Event::Join, Some("user:1")).unwrap();
    p.poll(10);
    signal_ping(&mut p, 100, "s1", Some("user:1"), "typing", true).unwrap();
    signal_ping(&mut p, 100, "s2", Some("user:1"), "typing", true).unwrap();
    assert_eq!(signal_statuses(&p.poll(100)), [typing("user:1", &[10])]);
    // one stops: the other still types
    signal_ping(&mut p, 200, "s1", Some("user:1"), "typing", false).unwrap();
    assert!(signal_statuses(&p.poll(200)).is_empty());
    assert_eq!(p.entity_status("user:1").unwrap().signals.len(), 1);
}

#[test]
fn a_session_begins_at_most_two_new_signals_a_second_and_holds_at_most_ten() {
    let mut p = watched();
    signal_ping(&mut p, 100, "s1", Some("user:1"), "typing", true).unwrap();
    signal_ping(&mut p, 200, "s1", Some("user:1"), "recording", true).unwrap();
    p.poll(200);
    let refused = signal_ping(&mut p, 300, "s1", Some("user:1"), "drawing", true);
    assert_eq!(refused.map(|_| ()), Err(Refusal::TooManySignals));
    let fx = p.poll(300);
    assert!(
        signal_statuses(&fx).is_empty() && fx.writes.is_empty(),
        "nothing changed"
    );
    assert_eq!(p.entity_status("user:1").unwrap().signals.len(), 2);
    // a renewal is no new signal
    signal_ping(&mut p, 400, "s1", Some("user:1"), "typing", true).unwrap();
    // a second after the first, it may begin another
    signal_ping(&mut p, 1_100, "s1", Some("user:1"), "drawing", true).unwrap();
    // ten at once at most, however slowly they come
    let mut t = 1_100;
    for i in 0..7 {
        t += 600;
        signal_ping(&mut p, t, "s1", Some("user:1"), &format!("s{i}"), true).unwrap();
        signal_ping(&mut p, t, "s1", Some("user:1"), "typing", true).unwrap();
        signal_ping(&mut p, t, "s1", Some("user:1"), "recording", true).unwrap();
        signal_ping(&mut p, t, "s1", Some("user:1"), "drawing", true).unwrap();
        for j in 0..i {
            signal_ping(&mut p, t, "s1", Some("user:1"), &format!("s{j}"), true).unwrap();
        }
    }
    assert_eq!(p.entity_status("user:1").unwrap().signals.len(), 10);
    let refused = signal_ping(&mut p, t + 2_000, "s1", Some("user:1"), "one-more", true);
    assert_eq!(refused.map(|_| ()), Err(Refusal::TooManySignals));
    // another session of the same entity has its own limits
    ping_as(&mut p, t, "s2", "/", v(1), Event::Join, Some("user:1")).unwrap();
    signal_ping(&mut p, t + 2_000, "s2", Some("user:1"), "one-more", true).unwrap();
}

#[test]
fn a_bad_name_an_anonymous_session_or_a_missing_token_changes_nothing() {
    let mut p = watched();
    for bad in ["", "Typing", "ty ping", "tÿping", &"x".repeat(33)] {
        let r = signal_ping(&mut p, 100, "s1", Some("user:1"), bad, true);
        assert_eq!(r.map(|_| ()), Err(Refusal::BadSignal), "{bad:?}");
    }
    assert!(signal_ping(&mut p, 100, "s1", Some("user:1"), &"x".repeat(32), true).is_ok());
    assert!(signal_ping(&mut p, 100, "s1", Some("user:1"), "a_b-9", true).is_ok());
    p.poll(100);
    // an anonymous session holds no signals, and a refused one does not join
    let r = signal_ping(&mut p, 200, "anon", None, "typing", true);
    assert_eq!(r.map(|_| ()), Err(Refusal::BadSignal));
    assert!(!p.is_live("anon"), "the refused signal joined nobody");
    ping(&mut p, 200, "anon2", "/", v(2), Event::Join).unwrap();
    p.poll(200);
    let r = signal_ping(&mut p, 210, "anon2", None, "typing", true);
    assert_eq!(r.map(|_| ()), Err(Refusal::BadSignal));
    // an entity's session without its token
    let r = signal_ping(&mut p, 220, "s1", None, "typing", true);
    assert_eq!(r.map(|_| ()), Err(Refusal::NotYours));
    let fx = p.poll(220);
    assert!(signal_statuses(&fx).is_empty() && fx.writes.is_empty());
}

#[test]
fn a_new_session_may_join_with_its_first_signal() {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:1"], 0)).unwrap();
    p.poll(0);
    signal_ping(&mut p, 100, "s9", Some("user:1"), "typing", true).unwrap();
    assert!(p.is_live("s9"));
    let fx = p.poll(100);
    let st = p.entity_status("user:1").unwrap();
    assert!(st.online() && st.signals == [Rc::from("typing")]);
    assert_eq!(signal_statuses(&fx), [typing("user:1", &[10])]);
}

#[test]
fn watchers_of_other_entities_and_counts_hear_nothing_of_a_signal() {
    let mut p = watched();
    open(&mut p, 0, watcher(11, &["user:2"], 0)).unwrap();
    open(&mut p, 0, subscriber(12, Some("/"), 0)).unwrap();
    p.poll(0);
    alarm(&mut p, 1_000);
    signal_ping(&mut p, 2_000, "s1", Some("user:1"), "typing", true).unwrap();
    let fx = p.poll(2_000);
    assert_eq!(signal_statuses(&fx), [typing("user:1", &[10])]);
    assert!(broadcasts(&fx).is_empty(), "counts did not change");
}

#[test]
fn a_tracked_socket_signals_with_words_and_other_sockets_are_told_no() {
    let mut p = core();
    open(&mut p, 0, watcher(10, &["user:1"], 0)).unwrap();
    open(&mut p, 0, carrier_as(1, "s1", "user:1", 0)).unwrap();
    open(&mut p, 0, subscriber(2, Some("/"), 0)).unwrap();
    p.poll(0);
    p.socket_message(100, 1, Incoming::Text("signal typing"));
    assert_eq!(signal_statuses(&p.poll(100)), [typing("user:1", &[10])]);
    p.socket_message(200, 1, Incoming::Text("signal typing"));
    assert!(signal_statuses(&p.poll(200)).is_empty(), "a renewal");
    p.socket_message(300, 1, Incoming::Text("signal-end typing"));
    assert_eq!(signal_statuses(&p.poll(300)), [quiet("user:1", &[10])]);
    // a socket that carries no entity session, a bad name
    p.socket_message(400, 2, Incoming::Text("signal typing"));
    p.socket_message(400, 1, Incoming::Text("signal Typing!"));
    p.socket_message(400, 1, Incoming::Text("signal"));
    let fx = p.poll(400);
    assert_eq!(
        errors(&fx),
        [
            ("bad_request", Some("typing"), vec![2]),
            ("bad_request", None, vec![1]),
            ("bad_request", None, vec![1])
        ]
    );
    assert!(signal_statuses(&fx).is_empty());
    // past the limits: told, nothing changes
    p.socket_message(2_000, 1, Incoming::Text("signal a"));
    p.socket_message(2_000, 1, Incoming::Text("signal b"));
    p.socket_message(2_000, 1, Incoming::Text("signal c"));
    let fx = p.poll(2_000);
    // the refusal names the signal, so the client can send it again after the second
    assert_eq!(errors(&fx), [("rate_limited", Some("c"), vec![1])]);
    let refusal = fx
        .sends
        .iter()
        .find(|s| matches!(s.message, Message::Error { .. }));
    let text = refusal.map(|s| s.message.text()).unwrap_or_default();
    assert!(
        text.starts_with(r#"{"error":{"code":"rate_limited","message":"#)
            && text.ends_with(r#"},"signal":"c","type":"error"}"#),
        "{text}"
    );
    assert_eq!(
        p.entity_status("user:1").unwrap().signals,
        [Rc::from("a"), Rc::from("b")]
    );
    // the signals end with the socket's session
    close(&mut p, 2_100, 1);
    let fx = p.poll(2_100);
    assert_eq!(signal_statuses(&fx), [quiet("user:1", &[10])]);
}

#[test]
fn members_show_each_members_signals_in_its_room() {
    let mut p = core();
    open(&mut p, 0, members_watcher(20, "/", 0)).unwrap();
    ping_as(&mut p, 0, "s1", "/", v(1), Event::Join, Some("user:1")).unwrap();
    ping_as(&mut p, 0, "s2", "/", v(2), Event::Join, Some("user:2")).unwrap();
    p.poll(0);
    alarm(&mut p, 1_000);
    signal_ping(&mut p, 2_000, "s1", Some("user:1"), "typing", true).unwrap();
    let fx = alarm(&mut p, 2_000 + INTERVAL);
    let sent: Vec<Vec<(String, Vec<String>)>> = fx
        .sends
        .iter()
        .filter_map(|s| match &s.message {
            Message::Members(list) => Some(
                list.members
                    .iter()
                    .map(|m| {
                        let signals = m.signals.iter().map(|n| n.to_string()).collect();
                        (m.entity.to_string(), signals)
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [vec![
            ("user:1".to_string(), vec!["typing".to_string()]),
            ("user:2".to_string(), vec![])
        ]]
    );
}

#[test]
fn a_signal_on_a_shard_reaches_the_coordinators_watchers_and_ends_there() {
    let mut site = shards::Site::new(4);
    open(&mut site.objects[0], 0, watcher(50, &["user:1"], 0)).unwrap();
    site.settle(0);
    ping_as(
        &mut site.objects[3],
        100,
        "s1",
        "/",
        v(1),
        Event::Join,
        Some("user:1"),
    )
    .unwrap();
    site.settle(100);
    signal_ping(
        &mut site.objects[3],
        2_000,
        "s1",
        Some("user:1"),
        "typing",
        true,
    )
    .unwrap();
    site.coordinator_sent.clear();
    site.settle_at(2_000);
    site.settle_at(2_000 + INTERVAL);
    let sent = Effects {
        sends: std::mem::take(&mut site.coordinator_sent),
        ..Effects::default()
    };
    assert_eq!(
        signal_statuses(&sent),
        [typing("user:1", &[50])],
        "within the interval"
    );
    // its end on the coordinator's clock
    let fx = alarm(&mut site.objects[0], 2_000 + SIGNAL_TTL);
    assert_eq!(signal_statuses(&fx), [quiet("user:1", &[50])]);
}
