//! Away, members and member info.

use super::*;

/// An `away` ping for `session`, with the track token of `entity` (a page that carries one
/// always sends it; the session's own when none is named).
fn away_ping(p: &mut Presence, now: Millis, session: &str, entity: Option<&str>) {
    let room = p.session_room(session).unwrap_or("/").to_owned();
    let own = p.entity_of(session).map(str::to_owned);
    let entity = entity.or(own.as_deref());
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
    ping_as(
        &mut p,
        10_000,
        "s1",
        "/",
        v(1),
        Event::Heartbeat,
        Some("user:1"),
    )
    .unwrap();
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
    assert_eq!(fx.flush_at, Some(100 + INTERVAL));
    let out = members_of(&p.poll(100 + INTERVAL));
    assert_eq!(out[0].1.len(), 2);
    // moving out of the room, going away, anonymous leaving: each shows
    ping_as(
        &mut p,
        2_000,
        "b",
        "/api",
        v(2),
        Event::Heartbeat,
        Some("user:2"),
    )
    .unwrap();
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
            address: address_of(v(1)),
            event: Event::Join,
            entity: Some("user:1"),
            info: Some(info),
            signal: None,
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
            // a session that carries an entity refuses anything without that entity's token
            let owner = p.entity_of(&session).map(str::to_owned);
            let mine = |with: Option<&str>| owner.is_none() || owner.as_deref() == with;
            let expect = |result: Result<(), Refusal>, allowed: bool| {
                let want = if allowed {
                    Ok(())
                } else {
                    Err(Refusal::NotYours)
                };
                assert_eq!(result, want, "seed {seed}");
            };
            let fx = match rng.below(8) {
                0 | 1 => {
                    let r = ping_as(&mut p, now, &session, room, visitor, Event::Heartbeat, with);
                    expect(r.map(drop), mine(with));
                    p.poll(now)
                }
                2 => {
                    let r = ping_as(&mut p, now, &session, room, visitor, Event::Away, with);
                    expect(r.map(drop), mine(with));
                    p.poll(now)
                }
                3 => {
                    let r = ping_as(&mut p, now, &session, room, visitor, Event::Leave, with);
                    expect(r.map(drop), mine(with));
                    p.poll(now)
                }
                4 => {
                    let spec = carrier_as(next_socket, &session, entity, now);
                    let r = open(&mut p, now, spec);
                    let allowed = mine(Some(entity));
                    expect(r, allowed);
                    if allowed {
                        open_ids.push(next_socket);
                    }
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
