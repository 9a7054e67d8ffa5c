//! What the object that keeps the site answers and sends beside counts: entity status and
//! members (to watchers and to `/v1/status` and `/v1/members`), webhooks, entity records and
//! the history's minutes. A shard keeps none of it (see `role.rs`).

use std::rc::Rc;

use super::effects::{Effects, Message, Send, Write};
use super::entities::{EntityStatus, Member};
use super::history::MinuteRow;
use super::messages::MembersList;
use super::role::Keeper;
use super::types::{Counts, Millis, StoredEntity, MAX_MEMBERS};
use super::webhooks::{Delivery, Events, Outcome, Webhooks};
use super::{shards, Presence};

impl Presence {
    /// The status of an entity online, away or in its grace; `None` when offline (the rest
    /// is then in storage) or kept by another object.
    pub fn entity_status(&self, entity: &str) -> Option<EntityStatus> {
        self.role.keeper()?.entities.status(entity)
    }

    /// The status of each entity: from memory when online, away or in its grace, else offline
    /// with what storage holds (`stored`).
    pub fn statuses(
        &self,
        entities: &[String],
        mut stored: impl FnMut(&str) -> StoredEntity,
    ) -> Vec<(String, EntityStatus)> {
        entities
            .iter()
            .map(|e| {
                let status = self.entity_status(e).unwrap_or_else(|| {
                    let s = stored(e);
                    EntityStatus::offline(s.last_seen, s.info.map(Rc::from))
                });
                (e.clone(), status)
            })
            .collect()
    }

    /// The members of `room` (at most [`MAX_MEMBERS`], earliest online first), whether the
    /// list was cut, and the sessions in it without an entity (over every object of a sharded
    /// site, as far as the coordinator heard from its shards).
    pub fn members(&self, room: &str) -> (Vec<Member>, bool, Counts) {
        let (members, truncated) = match self.role.keeper() {
            Some(k) => k.entities.members(room, MAX_MEMBERS),
            None => (Vec::new(), false),
        };
        let here = self.local.anonymous_in(room);
        let anonymous = shards::add(here, self.role.shards_anonymous(room));
        (members, truncated, anonymous)
    }

    /// The members of `room` as `/v1/members` answers them and the `members` message says.
    pub fn members_list(&self, room: &str) -> MembersList {
        let (members, truncated, anonymous) = self.members(room);
        MembersList {
            room: room.to_owned(),
            members,
            anonymous,
            truncated,
        }
    }

    pub(super) fn members_message(&self, room: &str) -> Message {
        Message::Members(self.members_list(room))
    }

    /// The keeper's part of a poll: status changes to watchers, members to their sockets,
    /// webhooks, entity records and the history's minute.
    pub(super) fn poll_keeper(&mut self, now: Millis, fx: &mut Effects) {
        let mut rooms = self.local.take_anonymous_changed();
        let Some(k) = self.role.keeper_mut() else {
            return;
        };
        for (entity, status) in k.entities.take_changes() {
            let to = self.local.sockets.watchers(&entity);
            if !to.is_empty() {
                let entity = entity.to_string();
                fx.sends.push(Send {
                    to,
                    message: Message::Status { entity, status },
                });
            }
        }
        rooms.extend(k.entities.take_dirty_rooms());
        keep_records(k, now, fx);
        self.members.mark(&mut self.local.sockets, &rooms);
        let interval = self.cfg.broadcast_interval_ms;
        for (room, to) in self.members.due(now, interval, &mut self.local.sockets) {
            let message = self.members_message(&room);
            fx.sends.push(Send { to, message });
        }
        let site = self.site_counts();
        if let Some(k) = self.role.keeper_mut().filter(|k| k.keeps_history) {
            fx.writes
                .extend(k.history.observe(now, site).map(Write::History));
        }
    }

    /// The minute in progress of the site's history, when it has changes not yet stored.
    pub fn history_pending(&self) -> Option<MinuteRow> {
        self.role.keeper()?.history.pending()
    }

    // ----- webhooks -----

    /// Sends the site's entity events (those `events` names) as webhooks from now on; ids
    /// start with `id_prefix` (random per instance); `stored` is the queue storage kept.
    pub fn enable_webhooks(
        &mut self,
        site: &str,
        events: Events,
        id_prefix: &str,
        stored: Vec<Delivery>,
    ) {
        if let Some(k) = self.role.keeper_mut() {
            k.webhooks = Webhooks::new(site, events, id_prefix);
            k.webhooks.restore(stored);
        }
    }

    /// Keeps the site's webhook events queued (and stored) without trying them: the edge has
    /// no secret to sign them with. A restart with the secret set delivers them.
    pub fn hold_webhooks(&mut self) {
        if let Some(k) = self.role.keeper_mut() {
            k.webhooks.hold();
        }
    }

    /// The webhook deliveries to try now (in flight until [`Presence::webhook_answered`]).
    pub fn due_webhooks(&mut self, now: Millis) -> Vec<Delivery> {
        match self.role.keeper_mut() {
            Some(k) => k.webhooks.due(now),
            None => Vec::new(),
        }
    }

    /// A try of delivery `id` ended at `now`.
    pub fn webhook_answered(&mut self, id: &str, outcome: Outcome, now: Millis) {
        if let Some(k) = self.role.keeper_mut() {
            let changes = k.webhooks.answered(id, outcome, now);
            self.out
                .writes
                .extend(changes.into_iter().map(Write::Webhook));
        }
    }
}

/// Webhook events for the entities' shown-state changes, and the entity rows to store.
fn keep_records(k: &mut Keeper, now: Millis, fx: &mut Effects) {
    let transitions = k.entities.take_transitions();
    if k.webhooks.is_enabled() {
        let queued = k.webhooks.enqueue(transitions);
        let stale = k.webhooks.drop_stale(now);
        fx.writes
            .extend(queued.into_iter().chain(stale).map(Write::Webhook));
    }
    let records = k.entities.take_records();
    fx.writes.extend(records.into_iter().map(Write::Entity));
}
