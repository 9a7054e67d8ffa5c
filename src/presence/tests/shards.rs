//! A site over many objects: a coordinator and its shards, their reports and pushes carried in-process as the edge carries them.

use super::*;

/// A coordinator and K-1 shards, their reports and pushes carried in-process like the edge.
pub(super) struct Site {
    pub(super) objects: Vec<Presence>,
    /// The members messages the coordinator sent, in order.
    members: Vec<MembersSent>,
    /// Everything the coordinator sent, in order.
    pub(super) coordinator_sent: Vec<Send>,
}

impl Site {
    pub(super) fn new(k: u32) -> Site {
        Site::with_limits(k, Limits::default())
    }

    fn with_limits(k: u32, limits: Limits) -> Site {
        let objects = (0..k)
            .map(|i| {
                let cfg = Config {
                    history: i == 0,
                    limits,
                    ..p_config()
                };
                let placement = Placement { index: i, count: k };
                Presence::start(cfg, placement, 1000 + u64::from(i))
            })
            .collect();
        Site {
            objects,
            members: Vec::new(),
            coordinator_sent: Vec::new(),
        }
    }

    /// Polls every object from `now` through two broadcast intervals (the throttled reports
    /// and pushes), carrying reports and pushes; answers the count messages each object sent.
    pub(super) fn settle(&mut self, now: Millis) -> Vec<Vec<Broadcast>> {
        let mut sent: Vec<Vec<Broadcast>> = self.objects.iter().map(|_| Vec::new()).collect();
        for t in [now, now + INTERVAL, now + 2 * INTERVAL] {
            let more = self.settle_at(t);
            for (all, new) in sent.iter_mut().zip(more) {
                all.extend(new);
            }
        }
        sent
    }

    pub(super) fn settle_at(&mut self, now: Millis) -> Vec<Vec<Broadcast>> {
        let mut sent: Vec<Vec<Broadcast>> = self.objects.iter().map(|_| Vec::new()).collect();
        for _ in 0..10 {
            let mut moved = false;
            #[allow(clippy::needless_range_loop)] // objects[0] is borrowed again inside
            for i in 0..self.objects.len() {
                let fx = self.objects[i].poll(now);
                sent[i].extend(broadcasts(&fx));
                if i == 0 {
                    self.members.extend(members_of(&fx));
                    self.coordinator_sent.extend(fx.sends.iter().cloned());
                }
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
        crate::presence::shards::place(self.objects.len() as u32, visitor) as usize
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
    ping_as(
        &mut site.objects[2],
        1_000,
        "s1",
        "/",
        VisitorKey(1),
        Event::Leave,
        Some("user:1"),
    )
    .unwrap();
    ping_as(
        &mut site.objects[1],
        1_000,
        "s2",
        "/",
        VisitorKey(2),
        Event::Leave,
        Some("user:1"),
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
    let cfg = Config {
        history: false,
        ..p_config()
    };
    let mut again = Presence::start(cfg, Placement { index: 1, count: 3 }, 0);
    again.restore(5_000, rows, vec![]);
    site.objects[1] = again;
    site.settle(5_000);
    assert_eq!(site.objects[0].site_counts(), counts(2, 2), "nothing lost");
    assert_eq!(site.objects[0].entity_status("user:1").unwrap().sessions, 1);
    // shard 2 goes silent (gone): its report expires; shard 1 keeps reporting
    let ttl = crate::presence::shards::REPORT_TTL_MS;
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
    let cfg = Config {
        history: true,
        ..p_config()
    };
    let mut fresh = Presence::start(cfg, Placement { index: 0, count: 3 }, 99);
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
    // a new room on any object, with fewer addresses than the weakest named room (one
    // visitor per object: 4 against 8), is counted in the group, and its ping answer says so
    let mut late: Vec<String> = Vec::new();
    for i in 0.. {
        let v = format!("late{i}");
        if !late.iter().any(|l| site.place(l) == site.place(&v)) {
            late.push(v);
        }
        if late.len() == site.objects.len() {
            break;
        }
    }
    for (i, v) in late.iter().enumerate() {
        now += 1;
        let v = v.clone();
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
    // a room with visitors from more addresses than the weakest named room takes its slot
    let weakest = after
        .iter()
        .min_by_key(|r| (truth(&sessions, r), std::cmp::Reverse(r.to_string())))
        .cloned()
        .expect("named rooms");
    let strongest = truth(&sessions, &weakest) as usize + 1;
    for i in 0..strongest {
        now += 1;
        let (s, v) = (format!("crowd_s{i}"), format!("crowd_v{i}"));
        site.send(now, &s, &v, "/crowd", Event::Join);
        sessions.push((s, v, "/crowd".to_owned()));
    }
    site.settle(now);
    now += HEARTBEAT;
    for (s, v, room) in sessions.clone() {
        site.send(now, &s, &v, &room, Event::Heartbeat);
    }
    site.settle(now);
    let crowded = check(&site, &sessions, "after a crowd");
    assert!(crowded.contains(&"/crowd".to_owned()), "{crowded:?}");
    assert!(
        !crowded.contains(&weakest),
        "{weakest} gave its slot up: {crowded:?}"
    );
    assert_eq!(crowded.len(), MAX);
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

#[test]
fn the_live_members_feed_counts_every_shards_anonymous_sessions() {
    let mut site = Site::new(4);
    open(&mut site.objects[0], 0, members_watcher(70, "/docs", 0)).unwrap();
    site.settle(0);
    // 40 anonymous visitors, one tab each, placed over the four objects by their visitor ids
    for i in 0..40 {
        site.join(10, &format!("s_{i}"), &format!("v_{i}"), "/docs");
    }
    let mut held = [0; 4];
    for i in 0..40 {
        held[site.place(&format!("v_{i}"))] += 1;
    }
    assert!(
        held[1..].iter().all(|n| *n > 0),
        "every shard holds some: {held:?}"
    );
    for round in 0..6 {
        site.settle_at(20 + round * INTERVAL);
    }
    let sent: Vec<Counts> = site
        .members
        .iter()
        .map(|(_, _, anonymous)| *anonymous)
        .collect();
    assert_eq!(
        sent.last(),
        Some(&counts(40, 40)),
        "the feed's last word: {sent:?}"
    );
    let (_, _, anonymous) = site.objects[0].members("/docs");
    assert_eq!(anonymous, counts(40, 40), "the members answer too");
}
