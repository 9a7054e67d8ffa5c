//! The site's other objects, as this object's core meets them: a coordinator receives reports
//! and answers and pushes totals; a shard sends reports and receives totals. The protocol itself
//! (what is produced and how it is applied) lives in `shards/`; this is where it enters and
//! leaves the core.

use super::effects::Effects;
use super::role::Role;
use super::shards::{Report, Totals};
use super::types::Millis;
use super::Presence;

impl Presence {
    /// The coordinator: a shard's report arrived at `now`; answers the totals for it. Anything
    /// else answers empty totals (the shard's report is not for it).
    pub fn receive_report(&mut self, now: Millis, report: Report) -> Totals {
        let Role::Coordinator(keeper, c) = &mut self.role else {
            return Totals::default();
        };
        let (totals, changed) = c.receive(now, report, &mut keeper.entities, &mut self.local);
        if changed.totals {
            self.throttle.mark();
        }
        if changed.anonymous {
            let rooms = self.local.sockets.members_rooms();
            self.members.mark(&mut self.local.sockets, &rooms);
        }
        totals
    }

    /// A shard: the report in flight was answered with `totals`, or failed (`None`).
    pub fn report_answered(&mut self, now: Millis, totals: Option<Totals>) {
        if let Role::Shard(s) = &mut self.role {
            s.answered(now, totals);
            if s.take_slots_changed() {
                self.local.follow(s.slots());
            }
            self.throttle.mark();
        }
    }

    /// A shard: the coordinator pushed new totals.
    pub fn totals_pushed(&mut self, totals: Totals) {
        if let Role::Shard(s) = &mut self.role {
            s.pushed(totals);
            if s.take_slots_changed() {
                self.local.follow(s.slots());
            }
            self.throttle.mark();
        }
    }

    /// The reports and pushes due at `now`.
    pub(super) fn poll_shards(&mut self, now: Millis, fx: &mut Effects) {
        let interval = self.cfg.broadcast_interval_ms;
        match &mut self.role {
            Role::Coordinator(_, c) => {
                let (pushes, changed) = c.poll(now, interval, &mut self.local);
                if changed {
                    self.throttle.mark();
                }
                fx.pushes = pushes;
            }
            Role::Shard(s) => fx.report = s.poll(now, &self.local),
            Role::Single(..) => {}
        }
    }
}
