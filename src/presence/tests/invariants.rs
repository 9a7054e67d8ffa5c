//! Invariants under random event sequences.

use super::*;

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
fn stored_rows_always_match_the_live_sessions_that_need_one() {
    // Replays the writes into a model of the table and compares with the core's sessions:
    // every row is a live session in its room, and every live session held over HTTP has one
    // (one that only a socket carries may have none: its attachment keeps it).
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
        for (session, room) in &table {
            assert_eq!(
                live.get(session),
                Some(room),
                "step {i}: the row of {session}"
            );
        }
        for session in live.keys().filter(|s| p.needs_row(s)) {
            assert!(
                table.contains_key(session),
                "step {i}: {session} has no row"
            );
        }
    }
}
