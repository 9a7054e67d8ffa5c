//! Webhooks and history, kept by the object that keeps the site.

use super::*;

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
    ping_as(&mut p, 100, "s1", "/", v(1), Event::Leave, Some("user:1")).unwrap();
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
    ping_as(&mut p, 1_000, "s1", "/", v(1), Event::Leave, Some("user:1")).unwrap();
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
