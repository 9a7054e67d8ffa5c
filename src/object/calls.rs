//! One function per call: the Worker's (validated, typed) and the site's other objects'. Each
//! runs through `step` and answers a typed value (`api::answers`) or a contract error.

use worker::{Result, WebSocketPair};

use super::attachment::Attachment;
use super::{runtime, Answer, SitePresence};
use crate::api::answers::{CountAnswer, PingAnswer, Received, RoomsAnswer, StatusAnswer};
use crate::api::{
    CountQuery, HistoryQuery, LiveQuery, MembersQuery, Ping, RoomsQuery, SiteCall, DEFAULT_ROOM,
};
use crate::presence::history::{self, Range};
use crate::presence::shards::ShardCall;
use crate::presence::{shards, Event, RoomCounts, SocketSession, SocketSpec};
use crate::visitor::{address_key, visitor_key};

impl SitePresence {
    pub(super) fn answer(&self, call: SiteCall) -> Result<Answer> {
        match call {
            SiteCall::Ping(p) => self.ping(p),
            SiteCall::Count(q) => self.count(q),
            SiteCall::Rooms(q) => self.rooms(q),
            SiteCall::Status(q) => self.status(&q.entities),
            SiteCall::Members(q) => self.members(q),
            SiteCall::History(q) => self.history(q),
            SiteCall::Live(q) => self.live(q),
            #[cfg(feature = "test-hooks")]
            SiteCall::Test { hook, .. } => self.test_hook(hook),
        }
    }

    /// The objects' own protocol (see `presence/shards/`).
    pub(super) fn answer_shard(&self, call: ShardCall) -> Result<Answer> {
        match call {
            ShardCall::Report { report, .. } => {
                self.step(|l, now| Answer::json(&l.core.receive_report(now, report)))
            }
            ShardCall::Answered { totals, .. } => self.step(|l, now| {
                l.core.report_answered(now, Some(totals));
                Answer::json(&Received {})
            }),
            ShardCall::Push { totals, .. } => self.step(|l, _| {
                l.core.totals_pushed(totals);
                Answer::json(&Received {})
            }),
            ShardCall::Anonymous { room, .. } => {
                self.step(|l, _| Answer::json(&l.core.local_anonymous(&room)))
            }
        }
    }

    fn ping(&self, p: Ping) -> Result<Answer> {
        self.step(|l, now| {
            let visitor = visitor_key(&l.salt, p.visitor.as_deref(), &p.session);
            let address = address_key(&l.salt, p.address.as_deref());
            let ping = crate::presence::Ping {
                session: &p.session,
                room: &p.room,
                visitor,
                address,
                event: Event::from(p.event),
                entity: p.entity.as_deref(),
                info: p.info.as_deref(),
                signal: p.signal.as_deref(),
            };
            let cfg = l.core.config();
            match l.core.ping(now, ping) {
                Ok(snap) => Answer::json(&PingAnswer {
                    site: snap.site,
                    room: snap
                        .room
                        .unwrap_or_else(|| RoomCounts::new(&p.room, Default::default())),
                    heartbeat_ms: cfg.heartbeat_ms,
                    ttl_ms: cfg.ttl_ms,
                    signal_ttl_ms: cfg.signal_ttl_ms,
                }),
                Err(r) => Answer::Refused(r.into()),
            }
        })
    }

    fn count(&self, q: CountQuery) -> Result<Answer> {
        self.step(|l, _| {
            l.count_reads += 1;
            Answer::json(&CountAnswer::from(l.core.snapshot(q.room.as_deref())))
        })
    }

    fn rooms(&self, q: RoomsQuery) -> Result<Answer> {
        self.step(|l, _| {
            Answer::json(&RoomsAnswer {
                site: l.core.site_counts(),
                rooms: l.core.top_rooms(q.limit),
            })
        })
    }

    fn status(&self, entities: &[String]) -> Result<Answer> {
        self.step(|l, _| {
            let storage = &l.storage;
            let stored = |e: &str| storage.entity(e).unwrap_or_default();
            let entities = l.core.statuses(entities, stored).into_iter().collect();
            Answer::json(&StatusAnswer { entities })
        })
    }

    fn history(&self, q: HistoryQuery) -> Result<Answer> {
        let range = Range::parse(&q.range).unwrap_or(Range::Hour);
        self.step(|l, now| -> Result<Answer> {
            let (first, _) = range.span(now);
            let rows = l.storage.history(first)?;
            let pending = l.core.history_pending();
            let answer = history::answer(&q.site, range, now, None, &rows, pending);
            Ok(Answer::json(&answer))
        })?
    }

    /// The members of a room. On a sharded site the Worker asked the shards for their anonymous
    /// sessions first: this object adds its own to theirs.
    fn members(&self, q: MembersQuery) -> Result<Answer> {
        self.step(|l, _| {
            let mut list = l.core.members_list(&q.room);
            if let Some(others) = q.shards_anonymous {
                list.anonymous = shards::add(l.core.local_anonymous(&q.room), others);
            }
            Answer::json(&list)
        })
    }

    fn live(&self, q: LiveQuery) -> Result<Answer> {
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        // 52 bits: an exact number in JavaScript too.
        let id = runtime::random_u64() & 0x000f_ffff_ffff_ffff;
        let refused = self.step(|l, now| -> Result<Option<crate::api::ApiError>> {
            let session = q.session.as_ref().map(|s| SocketSession {
                session: s.clone(),
                visitor: visitor_key(&l.salt, q.visitor.as_deref(), s),
                room: q.room.clone().unwrap_or_else(|| DEFAULT_ROOM.to_owned()),
                entity: q.entity.clone(),
                info: q.info.clone(),
                away: false,
            });
            let spec = SocketSpec {
                id,
                session,
                view: q.room.clone(),
                watch: q.watch.clone(),
                members: q.members.clone(),
                seen_at: now,
                address: address_key(&l.salt, q.address.as_deref()),
                token_until: q.grant.as_ref().map(|g| g.until),
            };
            let attachment = Attachment::of(&spec, q.grant.clone());
            let storage = &l.storage;
            let stored = |e: &str| storage.entity(e).unwrap_or_default();
            if let Err(r) = l.core.socket_open(now, spec, stored) {
                return Ok(Some(r.into()));
            }
            self.state.accept_web_socket(&server);
            attachment.save(&server)?;
            l.sockets.insert(id, server.clone());
            Ok(None)
        })??;
        Ok(match refused {
            Some(e) => Answer::Refused(e),
            None => Answer::Socket(pair.client),
        })
    }
}
