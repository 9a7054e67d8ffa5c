//! The shard protocol's parts on their own: placement, the coordinator's sums and pushes, a
//! shard's reports and what its sockets show. (A whole sharded site, objects talking to each
//! other, is tested in `presence/tests/shards.rs`.)

use super::coordinator::{Reports, REPORT_TTL_MS};
use super::protocol::ReportRoom;
use super::shard::{KEEPALIVE_MS, REPORT_TIMEOUT_MS, RETRY_MS};
use super::*;
use crate::presence::effects::Effects;
use crate::presence::local::{Local, Want};
use crate::presence::types::{AddressKey, Config, Millis, Visibility, VisitorKey};

fn c(s: u32, v: u32) -> Counts {
    Counts {
        sessions: s,
        visitors: v,
    }
}

fn report(shard: u32, site: Counts, rooms: &[(&str, Counts)]) -> Report {
    Report {
        shard,
        site,
        rooms: rooms
            .iter()
            .map(|(r, c)| ReportRoom {
                room: r.to_string(),
                sessions: c.sessions,
                visitors: c.visitors,
                addresses: c.visitors,
                since: 0,
            })
            .collect(),
        other: Counts::default(),
        views: vec![],
        sockets: 1,
        anonymous: vec![],
        entities: vec![],
        snapshot: false,
        slots: 0,
    }
}

/// A shard's own sessions: `n` of them in room `/`, one visitor each.
fn local_with(n: u64) -> Local {
    let mut local = Local::new(Config::default());
    for i in 0..n {
        join(&mut local, i, 0);
    }
    local
}

fn join(local: &mut Local, i: u64, now: Millis) {
    let want = Want {
        room: "/",
        visitor: VisitorKey(i),
        address: AddressKey(i + 1),
        entity: None,
        info: None,
        visibility: Visibility::Visible,
        by_socket: false,
    };
    local.upsert(now, &format!("s{i}"), want, &mut Effects::default());
}

#[test]
fn placement_is_stable_and_spread() {
    assert_eq!(place(1, "v_anything"), 0);
    let mut hits = [0u32; 4];
    for i in 0..4000 {
        let s = place(4, &format!("v_{i:08}"));
        assert_eq!(s, place(4, &format!("v_{i:08}")));
        hits[s as usize] += 1;
    }
    assert!(hits.iter().all(|h| (800..1200).contains(h)), "{hits:?}");
}

#[test]
fn totals_add_the_shards_and_a_silent_shard_stops_counting() {
    let mut a = Reports::default();
    assert!(a.receive(0, report(1, c(3, 2), &[("/", c(3, 2))])).totals);
    assert!(
        a.receive(100, report(2, c(5, 5), &[("/", c(1, 1)), ("/x", c(4, 4))]))
            .totals
    );
    assert!(
        !a.receive(200, report(1, c(3, 2), &[("/", c(3, 2))])).totals,
        "same numbers"
    );
    assert_eq!(a.site(), c(8, 7));
    assert_eq!((a.room("/"), a.room("/x")), (c(4, 3), c(4, 4)));
    assert_eq!(a.next_expiry(), Some(100 + REPORT_TTL_MS));
    assert!(a.expire(100 + REPORT_TTL_MS));
    assert_eq!(
        a.site(),
        c(3, 2),
        "shard 2's report ran out; shard 1 renewed at 200"
    );
}

#[test]
fn pushes_go_to_shards_with_sockets_when_totals_change_throttled() {
    let mut a = Reports::default();
    a.receive(0, report(1, c(1, 1), &[]));
    let mut quiet = report(2, c(0, 0), &[]);
    quiet.sockets = 0;
    a.receive(0, quiet);
    let totals = |a: &Reports, n: u32| -> Vec<(u32, Totals)> {
        a.viewers()
            .into_iter()
            .map(|(s, _)| {
                (
                    s,
                    Totals {
                        instance: 1,
                        site: c(n, n),
                        ..Totals::default()
                    },
                )
            })
            .collect()
    };
    let (p, _) = a.pushes(0, 500, totals(&a, 2));
    assert_eq!(
        p.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [1],
        "only shards with sockets or sessions"
    );
    let (p, _) = a.pushes(100, 500, totals(&a, 2));
    assert!(p.is_empty(), "nothing changed");
    let (p, pending) = a.pushes(200, 500, totals(&a, 3));
    assert!(p.is_empty());
    assert_eq!(pending, Some(500), "inside the interval: when it ends");
    let t = totals(&a, 3);
    assert_eq!(a.pushes(500, 500, t).0.len(), 1);
    a.greet(3);
    let t = totals(&a, 3);
    let (p, _) = a.pushes(600, 500, t);
    assert_eq!(
        p.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [1, 2],
        "a hello reaches every shard"
    );
}

#[test]
fn a_shard_reports_at_once_then_once_per_interval_and_keeps_alive() {
    let mut local = local_with(1);
    let mut r = Shard::new(1, 500, 1000);
    assert_eq!(r.due_at(true), Some(0), "the first report at once");
    assert!(r.poll(0, &local).is_some());
    assert_eq!(
        r.due_at(true),
        Some(REPORT_TIMEOUT_MS),
        "one in flight, until it times out"
    );
    r.answered(10, Some(Totals::default()));
    assert_eq!(r.due_at(true), Some(KEEPALIVE_MS), "keepalive");
    r.mark();
    assert_eq!(
        r.due_at(true),
        Some(500),
        "a change inside the interval waits for it"
    );
    let start = EntityEvent::Seen {
        entity: "u".into(),
        at: 1,
    };
    r.forward(start.clone());
    let sent = r.poll(600, &local).expect("due at 500");
    assert_eq!(sent.entities, vec![start.clone()]);
    r.answered(610, None);
    assert_eq!(
        r.due_at(true),
        Some(610 + RETRY_MS),
        "a failed report is tried again"
    );
    let again = r.poll(610 + RETRY_MS, &local).expect("the retry");
    assert_eq!(again.entities, vec![start], "its entity changes go again");
    r.answered(1700, Some(Totals::default()));
    local.end("s0", 2000, 2000, &mut Effects::default());
    r.mark();
    let empty = r
        .poll(2200, &local)
        .expect("the change, after the interval");
    assert_eq!((empty.site, empty.sockets), (c(0, 0), 0));
    r.answered(2210, Some(Totals::default()));
    assert_eq!(
        r.due_at(false),
        None,
        "an empty shard said so once and stays quiet"
    );
}

#[test]
fn a_shard_shows_the_totals_corrected_by_its_own_changes_since() {
    let mut local = local_with(2);
    let mut r = Shard::new(1, 500, 1000);
    let sent = r.poll(0, &local).expect("the first report");
    let room = ReportRoom {
        room: "/".into(),
        sessions: 2,
        visitors: 2,
        addresses: 2,
        since: 0,
    };
    assert_eq!(sent.rooms, vec![room]);
    let totals = Totals {
        instance: 7,
        site: c(10, 9),
        rooms: vec![RoomCounts::new("/", c(6, 5))],
        members_rooms: vec![],
        ..Totals::default()
    };
    r.answered(5, Some(totals));
    // one more local join since the report
    join(&mut local, 2, 6);
    let view = r.view(&local, Some("/"));
    assert_eq!((view.site, view.room), (c(11, 10), Some(c(7, 6))));
    // a new coordinator instance asks for a snapshot
    r.pushed(Totals {
        instance: 8,
        ..Totals::default()
    });
    assert_eq!(r.due_at(true), Some(0));
    assert!(r.poll(10, &local).expect("at once").snapshot);
}
