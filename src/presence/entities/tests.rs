//! The entities' own tests: status, grace, away, members, records, driven by the session
//! changes the rest of the core produces.

use super::*;

/// The session changes of the core, as the tests name them.
trait Drive {
    fn session_started(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Info>,
        now: Millis,
    );
    fn session_ended(&mut self, entity: &str, session: &str, now: Millis, last_seen: Millis);
    /// The session shows (or hides) in the room it is in.
    fn session_visible(&mut self, entity: &str, session: &str, visible: bool, now: Millis);
    /// The session moves to `room`, as visible as it was.
    fn session_moved(&mut self, entity: &str, session: &str, room: &Rc<str>, now: Millis);
}

impl Drive for Entities {
    fn session_started(
        &mut self,
        entity: &Rc<str>,
        session: &Rc<str>,
        room: &Rc<str>,
        visible: bool,
        info: Option<Info>,
        now: Millis,
    ) {
        let event = EntityEvent::Start {
            entity: entity.clone(),
            session: session.clone(),
            room: room.clone(),
            visible,
            info,
            at: now,
        };
        self.apply(event, 0);
    }

    fn session_ended(&mut self, entity: &str, session: &str, now: Millis, last_seen: Millis) {
        let event = EntityEvent::End {
            entity: entity.into(),
            session: session.into(),
            at: now,
            last_seen,
        };
        self.apply(event, 0);
    }

    fn session_visible(&mut self, entity: &str, session: &str, visible: bool, now: Millis) {
        let room = held(self, entity, session).room;
        self.session_started(&entity.into(), &session.into(), &room, visible, None, now);
    }

    fn session_moved(&mut self, entity: &str, session: &str, room: &Rc<str>, now: Millis) {
        let visible = held(self, entity, session).visible;
        self.session_started(&entity.into(), &session.into(), room, visible, None, now);
    }
}

/// A session the entities hold.
fn held(e: &Entities, entity: &str, session: &str) -> EntitySession {
    let sessions = &e.live[entity].sessions;
    sessions
        .iter()
        .find(|s| &*s.session == session)
        .cloned()
        .unwrap()
}

const GRACE: Millis = 3_000;

fn rc(s: &str) -> Rc<str> {
    Rc::from(s)
}

fn shown(changes: &[(Rc<str>, EntityStatus)]) -> Vec<(State, u32)> {
    changes.iter().map(|(_, s)| (s.state, s.sessions)).collect()
}

fn start(e: &mut Entities, entity: &str, session: &str, room: &str, now: Millis) {
    e.session_started(&rc(entity), &rc(session), &rc(room), true, None, now);
}

#[test]
fn online_while_a_session_lives_and_offline_only_after_the_grace() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "user:42", "s1", "/", 1_000);
    assert_eq!(shown(&e.take_changes()), [(State::Online, 1)]);
    e.session_ended("user:42", "s1", 2_000, 2_000);
    assert!(
        e.take_changes().is_empty(),
        "no message when the grace starts"
    );
    assert!(e.status("user:42").unwrap().online());
    assert_eq!(e.next_wake(), Some(2_000 + GRACE));
    e.expire(2_000 + GRACE - 1);
    assert!(e.status("user:42").is_some());
    e.expire(2_000 + GRACE);
    assert_eq!(shown(&e.take_changes()), [(State::Offline, 0)]);
    assert_eq!(e.status("user:42"), None, "offline entities leave memory");
}

#[test]
fn a_reload_inside_the_grace_sends_nothing_and_keeps_online_since() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "user:1", "s1", "/", 0);
    e.take_changes();
    e.take_transitions();
    e.session_ended("user:1", "s1", 100, 100);
    start(&mut e, "user:1", "s1", "/", 400);
    e.expire(10_000);
    assert!(e.take_changes().is_empty());
    assert!(e.take_transitions().is_empty());
    let st = e.status("user:1").unwrap();
    assert_eq!((st.sessions, st.online_since), (1, Some(0)));
}

#[test]
fn two_devices_count_two_and_one_leaving_keeps_it_online() {
    let mut e = Entities::new(GRACE);
    let mut seen = Vec::new();
    start(&mut e, "user:1", "a", "/", 0);
    seen.extend(shown(&e.take_changes()));
    start(&mut e, "user:1", "b", "/", 10);
    seen.extend(shown(&e.take_changes()));
    e.session_ended("user:1", "a", 20, 20);
    e.expire(20 + GRACE);
    seen.extend(shown(&e.take_changes()));
    assert_eq!(
        seen,
        [(State::Online, 1), (State::Online, 2), (State::Online, 1)]
    );
    assert!(e.status("user:1").unwrap().online());
}

#[test]
fn a_hidden_tab_shows_away_after_the_grace_and_coming_back_shows_online_at_once() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "user:1", "s1", "/", 0);
    e.take_changes();
    e.take_transitions();
    e.session_visible("user:1", "s1", false, 1_000);
    assert!(
        e.take_changes().is_empty(),
        "a reload hides the tab for a moment"
    );
    e.expire(1_000 + GRACE);
    let st = e.status("user:1").unwrap();
    assert_eq!((st.state, st.online(), st.sessions), (State::Away, true, 1));
    assert_eq!(st.online_since, Some(0), "away keeps the online period");
    assert_eq!(shown(&e.take_changes()), [(State::Away, 1)]);
    let t = e.take_transitions();
    assert_eq!(
        (t[0].from, t[0].status.state, t[0].at),
        (State::Online, State::Away, 1_000 + GRACE)
    );
    e.session_visible("user:1", "s1", true, 9_000);
    assert_eq!(shown(&e.take_changes()), [(State::Online, 1)]);
    assert_eq!(e.take_transitions()[0].from, State::Away);
}

#[test]
fn away_then_back_inside_the_grace_sends_nothing() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "user:1", "s1", "/", 0);
    e.take_changes();
    e.session_visible("user:1", "s1", false, 100);
    e.session_visible("user:1", "s1", true, 500);
    e.expire(100 + GRACE);
    assert!(e.take_changes().is_empty());
    assert_eq!(e.status("user:1").unwrap().state, State::Online);
}

#[test]
fn transitions_come_online_away_offline_in_order() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "user:1", "s1", "/", 0);
    e.session_visible("user:1", "s1", false, 10);
    e.expire(10 + GRACE);
    e.session_ended("user:1", "s1", 5_000, 5_000);
    e.expire(5_000 + GRACE);
    let t: Vec<(State, State)> = e
        .take_transitions()
        .iter()
        .map(|t| (t.from, t.status.state))
        .collect();
    assert_eq!(
        t,
        [
            (State::Offline, State::Online),
            (State::Online, State::Away),
            (State::Away, State::Offline)
        ]
    );
}

#[test]
fn last_seen_follows_signs_of_life_and_is_written_on_start_and_end_only() {
    let mut e = Entities::new(GRACE);
    start(&mut e, "u:1", "s1", "/", 1_000);
    assert_eq!(e.take_records().len(), 1);
    e.seen("u:1", 5_000);
    e.seen("u:1", 4_000);
    assert!(e.take_records().is_empty(), "signs of life write nothing");
    assert_eq!(e.status("u:1").unwrap().last_seen, Some(5_000));
    e.session_ended("u:1", "s1", 9_000, 6_000);
    let r = e.take_records();
    assert_eq!(
        (r.len(), r[0].last_seen, r[0].online_since),
        (1, 6_000, 1_000)
    );
    e.expire(9_000 + GRACE);
    let changes = e.take_changes();
    assert_eq!(changes.last().unwrap().1.last_seen, Some(6_000));
    assert_eq!(changes.last().unwrap().1.online_since, None);
}

#[test]
fn members_follow_rooms_and_states_and_hold_through_a_reload() {
    let mut e = Entities::new(GRACE);
    e.session_started(
        &rc("user:1"),
        &rc("a"),
        &rc("/docs"),
        true,
        Some(rc(r#"{"name":"Ada"}"#)),
        10,
    );
    start(&mut e, "user:2", "b", "/docs", 5);
    start(&mut e, "user:2", "c", "/docs", 6);
    let mut dirty = e.take_dirty_rooms();
    dirty.sort();
    assert_eq!(dirty, [rc("/docs")]);
    let (m, cut) = e.members("/docs", 1_000);
    assert!(!cut);
    let ids: Vec<(&str, u32)> = m.iter().map(|m| (&*m.entity, m.sessions)).collect();
    assert_eq!(
        ids,
        [("user:2", 2), ("user:1", 1)],
        "earliest online_since first"
    );
    assert_eq!(m[1].info.as_deref(), Some(r#"{"name":"Ada"}"#));
    // a reload: ended then started again inside the grace changes nothing
    e.session_ended("user:1", "a", 100, 100);
    start(&mut e, "user:1", "a", "/docs", 200);
    assert!(e.take_dirty_rooms().is_empty());
    // a move shows at once in both rooms
    e.session_moved("user:1", "a", &rc("/api"), 300);
    let mut dirty = e.take_dirty_rooms();
    dirty.sort();
    assert_eq!(dirty, [rc("/api"), rc("/docs")]);
    assert_eq!(e.members("/api", 10).0.len(), 1);
    // away in the room, after the grace
    e.session_visible("user:1", "a", false, 400);
    e.expire(400 + GRACE);
    assert_eq!(e.members("/api", 10).0[0].state, State::Away);
    assert!(e.members("/docs", 0).1, "cut at the limit");
}

#[test]
fn status_json_has_every_field() {
    let mut e = Entities::new(GRACE);
    e.session_started(
        &rc("u"),
        &rc("s"),
        &rc("/"),
        true,
        Some(rc(r#"{"name":"Ada"}"#)),
        7,
    );
    let v = serde_json::to_value(e.status("u").unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"online": true, "state": "online", "sessions": 1, "last_seen": 7, "online_since": 7, "info": {"name": "Ada"}, "signals": []})
    );
    let off = serde_json::to_value(EntityStatus::offline(None, None)).unwrap();
    assert_eq!(
        off,
        serde_json::json!({"online": false, "state": "offline", "sessions": 0, "last_seen": null, "online_since": null, "info": null, "signals": []})
    );
}

#[test]
fn patterns_match_exact_ids_and_prefixes() {
    assert!(pattern_allows("user:42", "user:42"));
    assert!(!pattern_allows("user:42", "user:421"));
    assert!(pattern_allows("customer:*", "customer:conv_1"));
    assert!(!pattern_allows("customer:*", "customers:1"));
    assert!(!pattern_allows("customer:*", "user:1"));
    assert!(pattern_allows("*", "anything"));
}
