//! Webhooks: where an entity's state changes become signed POSTs to the site's back end.
//!
//! Each shown state change (`entity.online`, `entity.away`, `entity.offline`) the site asked for
//! becomes a delivery with a unique id and a fixed body, queued in storage before anything is
//! sent. Deliveries of one entity go out one at a time, in order; a failure (a non-2xx answer
//! or a network error) is retried with growing delays ([`retry_delay`]) until a day has passed.
//! So delivery is at least once and in order per entity; a receiver deduplicates by `id`.
//! The queue survives restarts: the edge stores every change and reloads it.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde::Serialize;

use super::entities::{EntityStatus, State, Transition};
use super::types::Millis;
#[cfg(not(target_arch = "wasm32"))]
use crate::api::words::schema as words;

/// The body of every webhook POST: `{"id","type","site","at","entity","status"}`.
#[derive(Debug, Serialize)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        description = format!(
            "One webhook delivery: an entity's shown state changed. Delivered at least once, in \
             order per entity, retried with growing delays for at least {}; deduplicate by `id`.",
            crate::openapi::text::duration(GIVE_UP_AFTER_MS)
        )
    )
)]
pub struct WebhookEvent<'a> {
    /// Unique per event (the same across retries): a receiver deduplicates by it.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub id: &'a str,
    /// `entity.online`, `entity.away` or `entity.offline`.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(schema_with = "schema::event_type")
    )]
    pub r#type: &'a str,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::SiteKey"))]
    pub site: &'a str,
    /// When the shown state changed.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EpochMillis"))]
    pub at: Millis,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "words::EntityId"))]
    pub entity: &'a str,
    /// The entity's status then, as `/v1/status` shows it.
    pub status: &'a EntityStatus,
}

/// At most this many undelivered events per site: past it, the oldest event of an entity whose
/// later state is also queued is dropped first (the receiver still learns where it ended).
pub const MAX_QUEUED: usize = 1_000;

/// The schema of a webhook's `type` (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod schema {
    use schemars::{json_schema, Schema, SchemaGenerator};

    use super::{Events, State};

    /// Every event, in the order an entity goes through them.
    pub const EVENTS: [State; 3] = [State::Online, State::Away, State::Offline];

    pub fn event_type(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": EVENTS.map(Events::name) })
    }
}

/// How long a delivery is retried before it is given up.
pub const GIVE_UP_AFTER_MS: Millis = 24 * 3600 * 1000;
/// The longest wait between two tries.
pub const MAX_RETRY_DELAY_MS: Millis = 10 * 60 * 1000;

/// The wait before try number `attempt + 1` (after `attempt` failures): 1 s, 2 s, 4 s, ...
/// up to 10 minutes.
pub fn retry_delay(attempt: u32) -> Millis {
    1_000u64
        .saturating_mul(1u64 << attempt.min(20))
        .min(MAX_RETRY_DELAY_MS)
}

/// The events a site subscribes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    pub online: bool,
    pub away: bool,
    pub offline: bool,
}

impl Events {
    pub fn wants(&self, state: State) -> bool {
        match state {
            State::Online => self.online,
            State::Away => self.away,
            State::Offline => self.offline,
        }
    }

    /// The contract's name of the event of a change to `state`.
    pub fn name(state: State) -> &'static str {
        match state {
            State::Online => "entity.online",
            State::Away => "entity.away",
            State::Offline => "entity.offline",
        }
    }
}

/// One event to deliver: its id and body never change across tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub entity: String,
    /// Order among the deliveries of one entity.
    pub seq: u64,
    pub body: String,
    pub attempts: u32,
    pub created_at: Millis,
    pub next_at: Millis,
}

/// What became of a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Failed,
}

/// A change of the stored queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueChange {
    Added(Delivery),
    Retry {
        id: String,
        attempts: u32,
        next_at: Millis,
    },
    /// Delivered, or given up after a day of tries.
    Removed {
        id: String,
        given_up: bool,
    },
    /// Dropped, undelivered, to keep the queue within [`MAX_QUEUED`].
    Dropped {
        id: String,
    },
}

#[derive(Debug, Default)]
pub struct Webhooks {
    site: String,
    events: Events,
    /// A per-instance prefix that keeps ids unique across restarts.
    id_prefix: String,
    next_id: u64,
    next_seq: u64,
    /// Per entity, its deliveries in order.
    queues: BTreeMap<String, VecDeque<Delivery>>,
    /// Deliveries handed to the edge and not yet answered.
    in_flight: HashSet<String>,
    /// No signing secret: events are queued and kept (given up after a day like any other),
    /// none is tried.
    held: bool,
}

impl Webhooks {
    /// Webhooks for `site`, with ids starting with `id_prefix` (random per instance).
    pub fn new(site: &str, events: Events, id_prefix: &str) -> Self {
        Webhooks {
            site: site.to_owned(),
            events,
            id_prefix: id_prefix.to_owned(),
            ..Webhooks::default()
        }
    }

    /// Keeps events queued without trying them (the edge has no secret to sign with). A restart
    /// with the secret set brings the stored queue back and delivers it.
    pub fn hold(&mut self) {
        self.held = true;
    }

    #[cfg(test)]
    pub fn is_held(&self) -> bool {
        self.held
    }

    pub fn is_enabled(&self) -> bool {
        self.events.online || self.events.away || self.events.offline
    }

    /// Deliveries stored before a restart, back in their queues.
    pub fn restore(&mut self, mut stored: Vec<Delivery>) {
        crate::sort::sort_by_key(&mut stored, |d| d.seq);
        for d in stored {
            self.next_seq = self.next_seq.max(d.seq + 1);
            self.queues
                .entry(d.entity.clone())
                .or_default()
                .push_back(d);
        }
    }

    /// Queues the changes the site asked for; answers what to store.
    pub fn enqueue(&mut self, transitions: Vec<Transition>) -> Vec<QueueChange> {
        let mut out = Vec::new();
        for t in transitions {
            let to = t.status.state;
            if !self.events.wants(to) {
                continue;
            }
            self.next_id += 1;
            let id = format!("evt_{}{:x}", self.id_prefix, self.next_id);
            let event = WebhookEvent {
                id: &id,
                r#type: Events::name(to),
                site: &self.site,
                at: t.at,
                entity: &t.entity,
                status: &t.status,
            };
            // a struct of strings, numbers and a status always serializes
            let body = serde_json::to_string(&event).unwrap_or_default();
            let d = Delivery {
                id,
                entity: t.entity.to_string(),
                seq: self.next_seq,
                body,
                attempts: 0,
                created_at: t.at,
                next_at: t.at,
            };
            self.next_seq += 1;
            self.queues
                .entry(d.entity.clone())
                .or_default()
                .push_back(d.clone());
            out.push(QueueChange::Added(d));
        }
        out.extend(self.bound());
        out
    }

    /// Drops events until at most [`MAX_QUEUED`] wait: first the oldest event of an entity
    /// with a later one queued, else the oldest of all (never one in flight).
    fn bound(&mut self) -> Vec<QueueChange> {
        let mut out = Vec::new();
        let mut total: usize = self.queues.values().map(VecDeque::len).sum();
        while total > MAX_QUEUED {
            let in_flight = &self.in_flight;
            let oldest = |q: &VecDeque<Delivery>| {
                q.iter()
                    .position(|d| !in_flight.contains(&d.id))
                    .filter(|i| *i + 1 < q.len())
                    .map(|i| (q[i].seq, i))
            };
            let superseded = self
                .queues
                .iter()
                .filter_map(|(e, q)| oldest(q).map(|(seq, i)| (seq, e.clone(), i)))
                .min();
            let any = || {
                self.queues
                    .iter()
                    .filter_map(|(e, q)| {
                        let i = q.iter().position(|d| !in_flight.contains(&d.id))?;
                        Some((q[i].seq, e.clone(), i))
                    })
                    .min()
            };
            let Some((_, entity, i)) = superseded.or_else(any) else {
                break;
            };
            if let Some(q) = self.queues.get_mut(&entity) {
                if let Some(d) = q.remove(i) {
                    out.push(QueueChange::Dropped { id: d.id });
                }
                if q.is_empty() {
                    self.queues.remove(&entity);
                }
            }
            total -= 1;
        }
        out
    }

    /// The deliveries to try now: the head of each entity's queue, when due and not already
    /// in flight. They are in flight until [`Webhooks::answered`].
    pub fn due(&mut self, now: Millis) -> Vec<Delivery> {
        let mut out = Vec::new();
        if self.held {
            return out;
        }
        for q in self.queues.values() {
            if let Some(head) = q.front() {
                if head.next_at <= now && !self.in_flight.contains(&head.id) {
                    out.push(head.clone());
                }
            }
        }
        for d in &out {
            self.in_flight.insert(d.id.clone());
        }
        out
    }

    /// A try of delivery `id` ended at `now`; answers what to store.
    pub fn answered(&mut self, id: &str, outcome: Outcome, now: Millis) -> Vec<QueueChange> {
        self.in_flight.remove(id);
        let Some((entity, q)) = self
            .queues
            .iter_mut()
            .find(|(_, q)| q.front().is_some_and(|d| d.id == id))
        else {
            return Vec::new();
        };
        let entity = entity.clone();
        let Some(head) = q.front_mut() else {
            return Vec::new();
        };
        let change = match outcome {
            Outcome::Failed if now < head.created_at + GIVE_UP_AFTER_MS => {
                head.attempts += 1;
                head.next_at = now + retry_delay(head.attempts - 1);
                return vec![QueueChange::Retry {
                    id: id.to_owned(),
                    attempts: head.attempts,
                    next_at: head.next_at,
                }];
            }
            Outcome::Failed => QueueChange::Removed {
                id: id.to_owned(),
                given_up: true,
            },
            Outcome::Delivered => QueueChange::Removed {
                id: id.to_owned(),
                given_up: false,
            },
        };
        q.pop_front();
        if q.is_empty() {
            self.queues.remove(&entity);
        }
        vec![change]
    }

    /// While held: drops the deliveries a day old (as a day of failed tries would); answers
    /// what to store. Nothing otherwise.
    pub fn drop_stale(&mut self, now: Millis) -> Vec<QueueChange> {
        let mut out = Vec::new();
        if !self.held {
            return out;
        }
        self.queues.retain(|_, q| {
            while q
                .front()
                .is_some_and(|d| d.created_at + GIVE_UP_AFTER_MS <= now)
            {
                if let Some(d) = q.pop_front() {
                    out.push(QueueChange::Removed {
                        id: d.id,
                        given_up: true,
                    });
                }
            }
            !q.is_empty()
        });
        out
    }

    /// When the next delivery falls due (heads in flight wait for their answer); while held,
    /// when the oldest delivery is a day old.
    pub fn next_wake(&self) -> Option<Millis> {
        if self.held {
            return self
                .queues
                .values()
                .filter_map(|q| q.front())
                .map(|d| d.created_at + GIVE_UP_AFTER_MS)
                .min();
        }
        self.queues
            .values()
            .filter_map(|q| q.front())
            .filter(|d| !self.in_flight.contains(&d.id))
            .map(|d| d.next_at)
            .min()
    }

    #[cfg(test)]
    /// Deliveries waiting (for tests and diagnostics).
    pub fn pending(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::entities::EntityStatus;
    use std::rc::Rc;

    fn t(entity: &str, from: State, to: State, at: Millis) -> Transition {
        Transition {
            entity: Rc::from(entity),
            from,
            at,
            status: EntityStatus {
                state: to,
                sessions: u32::from(to != State::Offline),
                last_seen: Some(at),
                online_since: (to != State::Offline).then_some(at),
                info: None,
                signals: Vec::new(),
            },
        }
    }

    fn all() -> Events {
        Events {
            online: true,
            away: true,
            offline: true,
        }
    }

    #[test]
    fn only_the_events_asked_for_are_queued_with_the_contract_body() {
        let mut w = Webhooks::new(
            "shop",
            Events {
                online: false,
                away: false,
                offline: true,
            },
            "ab",
        );
        let out = w.enqueue(vec![
            t("user:1", State::Offline, State::Online, 10),
            t("user:1", State::Online, State::Offline, 20),
        ]);
        assert_eq!(out.len(), 1);
        let QueueChange::Added(d) = &out[0] else {
            panic!("{out:?}")
        };
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body["type"], "entity.offline");
        assert_eq!(body["site"], "shop");
        assert_eq!(body["entity"], "user:1");
        assert_eq!(body["at"], 20);
        assert_eq!(body["id"], d.id.as_str());
        assert_eq!(body["status"]["state"], "offline");
        assert_eq!(body["status"]["online"], false);
    }

    #[test]
    fn one_entity_is_delivered_in_order_others_in_parallel() {
        let mut w = Webhooks::new("s", all(), "x");
        w.enqueue(vec![
            t("a", State::Offline, State::Online, 0),
            t("a", State::Online, State::Offline, 5),
            t("b", State::Offline, State::Online, 6),
        ]);
        let due = w.due(10);
        let ids: Vec<&str> = due.iter().map(|d| d.entity.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "the head of each entity");
        assert!(w.due(10).is_empty(), "in flight until answered");
        assert_eq!(w.next_wake(), None);
        let first = due[0].id.clone();
        w.answered(&first, Outcome::Delivered, 11);
        let next = w.due(11);
        assert_eq!(next.len(), 1);
        assert!(
            next[0].body.contains("entity.offline"),
            "a's second event after its first"
        );
    }

    #[test]
    fn failures_are_retried_with_growing_delays_for_a_day_then_given_up() {
        let mut w = Webhooks::new("s", all(), "x");
        w.enqueue(vec![t("a", State::Offline, State::Online, 0)]);
        let mut now = 0;
        let mut waits = Vec::new();
        loop {
            let due = w.due(now);
            assert_eq!(due.len(), 1);
            let change = w.answered(&due[0].id, Outcome::Failed, now);
            match &change[0] {
                QueueChange::Retry { next_at, .. } => {
                    waits.push(next_at - now);
                    now = *next_at;
                }
                QueueChange::Removed { given_up, .. } => {
                    assert!(given_up);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(&waits[..4], [1_000, 2_000, 4_000, 8_000]);
        assert!(waits.iter().all(|w| *w <= MAX_RETRY_DELAY_MS));
        assert!(waits.windows(2).all(|p| p[1] >= p[0]), "never shorter");
        assert!(now >= GIVE_UP_AFTER_MS, "tried for at least a day");
        assert!(now < GIVE_UP_AFTER_MS + MAX_RETRY_DELAY_MS + 1);
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn a_restored_queue_keeps_order_and_new_events_follow() {
        let mut w = Webhooks::new("s", all(), "x");
        let out = w.enqueue(vec![
            t("a", State::Offline, State::Online, 0),
            t("a", State::Online, State::Away, 1),
        ]);
        let stored: Vec<Delivery> = out
            .into_iter()
            .filter_map(|c| match c {
                QueueChange::Added(d) => Some(d),
                _ => None,
            })
            .rev()
            .collect();
        let mut again = Webhooks::new("s", all(), "y");
        again.restore(stored);
        again.enqueue(vec![t("a", State::Away, State::Offline, 2)]);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let d = again.due(100).remove(0);
            seen.push(serde_json::from_str::<serde_json::Value>(&d.body).unwrap()["type"].clone());
            again.answered(&d.id, Outcome::Delivered, 100);
        }
        assert_eq!(seen, ["entity.online", "entity.away", "entity.offline"]);
    }

    #[test]
    fn without_a_secret_events_are_kept_untried_for_a_day_then_delivered_once_it_is_set() {
        let mut held = Webhooks::new("s", all(), "x");
        held.hold();
        let added = held.enqueue(vec![
            t("a", State::Offline, State::Online, 0),
            t("a", State::Online, State::Offline, 10),
            t("b", State::Offline, State::Online, 5_000),
        ]);
        assert_eq!(added.len(), 3, "queued (and stored) all the same");
        assert!(held.due(60_000).is_empty(), "nothing is tried unsigned");
        assert_eq!(
            held.next_wake(),
            Some(GIVE_UP_AFTER_MS),
            "wakes only to drop a day-old event"
        );
        assert!(held.drop_stale(GIVE_UP_AFTER_MS - 1).is_empty());
        // the restart with the secret set: the stored queue comes back and is delivered in order
        let stored: Vec<Delivery> = added
            .iter()
            .filter_map(|c| match c {
                QueueChange::Added(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        let mut signed = Webhooks::new("s", all(), "y");
        signed.restore(stored);
        let due = signed.due(60_000);
        assert_eq!(due.len(), 2, "the head of a and of b");
        assert!(due[0].body.contains("entity.online") && due[0].entity == "a");
        // still held a day later: a's two events (a day old) go, b's (younger) stays
        let gone = held.drop_stale(GIVE_UP_AFTER_MS + 10);
        assert_eq!(gone.len(), 2);
        assert!(gone
            .iter()
            .all(|c| matches!(c, QueueChange::Removed { given_up: true, .. })));
        assert_eq!(held.pending(), 1);
        assert_eq!(held.next_wake(), Some(5_000 + GIVE_UP_AFTER_MS));
        assert!(
            signed.drop_stale(GIVE_UP_AFTER_MS * 2).is_empty(),
            "a queue that can sign drops only after a day of tries"
        );
    }

    #[test]
    fn the_queue_keeps_at_most_a_thousand_dropping_superseded_events_first() {
        let mut w = Webhooks::new("s", all(), "p");
        // 990 entities online (one event each), then one entity flapping 30 times
        let mut at = 0;
        for i in 0..990 {
            at += 1;
            w.enqueue(vec![t(
                &format!("user:{i}"),
                State::Offline,
                State::Online,
                at,
            )]);
        }
        let mut dropped = Vec::new();
        for k in 0..30 {
            at += 1;
            let (from, to) = if k % 2 == 0 {
                (State::Online, State::Offline)
            } else {
                (State::Offline, State::Online)
            };
            for c in w.enqueue(vec![t("user:flap", from, to, at)]) {
                if let QueueChange::Dropped { id } = c {
                    dropped.push(id);
                }
            }
        }
        assert_eq!(w.pending(), MAX_QUEUED);
        assert_eq!(dropped.len(), 990 + 30 - MAX_QUEUED);
        // only the flapping entity's older events went; its last state is still queued
        assert_eq!(w.queues.len(), 991, "every entity still has an event");
        let flap = &w.queues["user:flap"];
        assert_eq!(flap.len(), 10);
        assert!(
            flap.back().unwrap().body.contains("entity.online"),
            "its last state (the 30th change: online)"
        );
        // every entity with one event: the oldest of all goes
        let mut w = Webhooks::new("s", all(), "p");
        for i in 0..=MAX_QUEUED {
            let changes = w.enqueue(vec![t(
                &format!("u:{i}"),
                State::Offline,
                State::Online,
                i as u64,
            )]);
            if i == MAX_QUEUED {
                assert!(
                    changes.contains(&QueueChange::Dropped {
                        id: "evt_p1".into()
                    }),
                    "{changes:?}"
                );
            }
        }
        assert_eq!(w.pending(), MAX_QUEUED);
    }
}
