//! Start-up, once per instance (after construction, a restart or a wake from hibernation):
//! which site and which of its objects this is (from the first call, or from storage when an
//! alarm or a socket event comes first), then the stored sessions, the open sockets and the
//! site's webhooks. Like partyserver's `#ensureInitialized` -> `onStart`: the identity is fixed
//! here, and the calls that follow only read it.

use std::collections::HashMap;

use worker::Result;

use super::attachment::Attachment;
use super::runtime;
use super::storage::Storage;
use super::webhooks::WebhookTarget;
use super::{Loaded, Residency, SitePresence};
use crate::api::call::parse_shard;
use crate::config::presence_config;
use crate::presence::{Placement, Presence};

/// The site's entry of `SITES` (the contract's default when the var is not set).
fn site_config(env: &worker::Env, site: &str) -> Option<crate::config::SiteConfig> {
    let raw = env
        .var("SITES")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| crate::config::DEFAULT_SITES.to_owned());
    crate::config::Sites::parse(&raw).ok()?.get(site).cloned()
}

impl SitePresence {
    /// Starts the object if it has not started: as `identity` says (a call's site and
    /// placement), else as storage remembers. Answers whether it runs (an alarm of an object
    /// that never learned its site has nothing to do). A started object that hears of another
    /// object count (a deploy changed `"shards"` and its alarm woke it before any call) follows.
    pub(super) fn ensure_started(&self, identity: Option<(&str, Placement)>) -> Result<bool> {
        if let Some(l) = self.loaded.borrow_mut().as_mut() {
            if let Some((_, p)) = identity.filter(|(_, p)| p.count != l.placement.count) {
                l.storage
                    .set_meta("shard", &format!("{}/{}", p.index, p.count))?;
                l.placement = p;
                l.core
                    .set_object_count(p.count, runtime::random_u64() >> 12);
            }
            return Ok(true);
        }
        let storage = Storage::open(self.state.storage().sql())?;
        let stored_site = storage.meta("site")?;
        let stored_placement = storage
            .meta("shard")?
            .and_then(|s| parse_shard(&s))
            .map(|(index, count)| Placement { index, count });
        let (site, placement) = match identity {
            Some((site, p)) => (site.to_owned(), p),
            None => match stored_site.clone() {
                Some(site) => (site, stored_placement.unwrap_or(Placement::SINGLE)),
                None => return Ok(false),
            },
        };
        if stored_site.as_deref() != Some(&site) {
            storage.set_meta("site", &site)?;
        }
        // an unsharded site's object stores nothing for it
        if stored_placement.unwrap_or(Placement::SINGLE) != placement {
            storage.set_meta("shard", &format!("{}/{}", placement.index, placement.count))?;
        }
        let mut l = self.load(storage, site, placement)?;
        let fx = l.core.poll(l.now());
        // a restarted coordinator greets its shards; a restarted shard reports in full
        self.carry_out(&mut l, fx)?;
        *self.loaded.borrow_mut() = Some(l);
        Ok(true)
    }

    /// The core at `placement` of `site`, rebuilt from storage and the open sockets.
    fn load(&self, storage: Storage, site: String, placement: Placement) -> Result<Loaded> {
        let now = runtime::now();
        let cfg = presence_config(|name| {
            self.env
                .var(name)
                .ok()
                .map(|v| v.to_string())
                .filter(|s| !s.is_empty())
        });
        let salt = storage.salt(|| {
            format!(
                "{:016x}{:016x}",
                runtime::random_u64(),
                runtime::random_u64()
            )
        })?;
        let rows = storage.sessions()?;
        let mut sockets = HashMap::new();
        let mut specs = Vec::new();
        for ws in self.state.get_websockets() {
            // Their last pong is asked of the runtime by the alarm, for sockets near their
            // deadline only, so a wake-up with thousands of sockets stays quick.
            match Attachment::load(&ws).and_then(|a| a.spec(None)) {
                Some(spec) => {
                    sockets.insert(spec.id, ws);
                    specs.push(spec);
                }
                None => {
                    let _ = ws.close(Some(1011), Some("lost its state"));
                }
            }
        }
        let mut core = Presence::start(cfg, placement, runtime::random_u64() >> 12);
        core.restore(now, rows, specs);
        let webhook = WebhookTarget::for_site(&self.env, &site);
        let keys = site_config(&self.env, &site)
            .map(|cfg| crate::http::site_keys(&self.env, &cfg))
            .unwrap_or_default();
        if let Some(target) = &webhook {
            let prefix = format!("{:x}", runtime::random_u64() & 0xffff_ffff);
            core.enable_webhooks(&site, target.events, &prefix, storage.webhooks()?);
            if !target.can_sign() {
                core.hold_webhooks();
            }
        }
        Ok(Loaded {
            core,
            storage,
            salt,
            sockets,
            wake_at: None,
            alarm_at: None,
            flush_at: None,
            site,
            placement,
            webhook,
            keys,
            pruned_at: 0,
            loaded_at: now,
            clock_offset: 0,
            count_reads: 0,
            alarms_set: 0,
            residency: Residency::default(),
            #[cfg(feature = "test-hooks")]
            fail_next_alarm: false,
        })
    }
}
