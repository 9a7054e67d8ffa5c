//! The open sockets of a site, indexed the ways the core asks for them: by the room they view
//! (a count message is built once per view), by the entities they watch (status messages), and
//! by when they fall silent or their token runs out (expiry).
//!
//! A socket either carries a session (`/v1/live?session=..`) or is a plain subscriber; both
//! receive count messages for their view (the site, plus the room they named).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::super::broadcast::Sent;
use super::super::deadlines::Deadlines;
use super::super::types::{AddressKey, Millis, SocketId};

/// How many texts other than `ping` a socket may send in any [`BUDGET_WINDOW_MS`].
pub const MESSAGE_BUDGET: usize = 20;
pub const BUDGET_WINDOW_MS: Millis = 10_000;

/// The times of a socket's last messages (made on its first message: most sockets only ping,
/// which the runtime answers without waking the object).
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    times: std::collections::VecDeque<Millis>,
}

impl Budget {
    /// One message at `now`: answers whether it is within the budget.
    pub fn spend(&mut self, now: Millis) -> bool {
        while self
            .times
            .front()
            .is_some_and(|t| *t + BUDGET_WINDOW_MS <= now)
        {
            self.times.pop_front();
        }
        if self.times.len() >= MESSAGE_BUDGET {
            return false;
        }
        self.times.push_back(now);
        true
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Socket {
    /// The session it carries, until that session ends.
    pub session: Option<Rc<str>>,
    /// The client address that opened it.
    pub address: AddressKey,
    /// The room whose counts it receives besides the site's.
    pub view: Option<Rc<str>>,
    /// The entities whose status it receives.
    pub watch: Vec<Rc<str>>,
    /// The room whose members it receives.
    pub members: Option<Rc<str>>,
    /// When it was last sent the members, and whether they changed since.
    pub members_sent_at: Option<Millis>,
    pub members_pending: bool,
    /// When it falls silent without a further sign of life.
    pub silent_at: Millis,
    /// When its token's rights end (its `exp` and the leeway), if it was opened with one.
    pub token_until: Option<Millis>,
    /// Its recent messages, against its budget.
    pub budget: Option<Box<Budget>>,
    /// What it was last sent, for the throttle.
    pub sent: Option<Sent>,
}

#[derive(Debug, Default)]
pub(crate) struct Sockets {
    all: HashMap<SocketId, Socket>,
    /// Sockets by the room they view; `site_only` for those that named none.
    by_room: HashMap<Rc<str>, HashSet<SocketId>>,
    site_only: HashSet<SocketId>,
    by_entity: HashMap<Rc<str>, HashSet<SocketId>>,
    by_members: HashMap<Rc<str>, HashSet<SocketId>>,
    silence: Deadlines<SocketId>,
    tokens: Deadlines<SocketId>,
}

impl Sockets {
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn get(&self, id: SocketId) -> Option<&Socket> {
        self.all.get(&id)
    }

    pub fn get_mut(&mut self, id: SocketId) -> Option<&mut Socket> {
        self.all.get_mut(&id)
    }

    pub fn insert(&mut self, id: SocketId, socket: Socket) {
        self.remove(id);
        self.silence.insert(socket.silent_at, id);
        if let Some(until) = socket.token_until {
            self.tokens.insert(until, id);
        }
        match &socket.view {
            Some(r) => {
                self.by_room.entry(r.clone()).or_default().insert(id);
            }
            None => {
                self.site_only.insert(id);
            }
        }
        for e in &socket.watch {
            self.by_entity.entry(e.clone()).or_default().insert(id);
        }
        if let Some(r) = &socket.members {
            self.by_members.entry(r.clone()).or_default().insert(id);
        }
        self.all.insert(id, socket);
    }

    pub fn remove(&mut self, id: SocketId) -> Option<Socket> {
        let sock = self.all.remove(&id)?;
        self.silence.remove(sock.silent_at, &id);
        if let Some(until) = sock.token_until {
            self.tokens.remove(until, &id);
        }
        match &sock.view {
            Some(r) => {
                if let Some(set) = self.by_room.get_mut(r) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.by_room.remove(r);
                    }
                }
            }
            None => {
                self.site_only.remove(&id);
            }
        }
        for e in &sock.watch {
            if let Some(set) = self.by_entity.get_mut(e) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_entity.remove(e);
                }
            }
        }
        if let Some(r) = &sock.members {
            if let Some(set) = self.by_members.get_mut(r) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_members.remove(r);
                }
            }
        }
        Some(sock)
    }

    /// Moves a socket's silence deadline later (never earlier: signs of life arrive out of order).
    pub fn seen(&mut self, id: SocketId, silent_at: Millis) {
        if let Some(s) = self.all.get_mut(&id) {
            if silent_at > s.silent_at {
                self.silence.reschedule(Some(s.silent_at), silent_at, id);
                s.silent_at = silent_at;
            }
        }
    }

    /// A socket's token was renewed: its rights last until `until` (never earlier than before).
    pub fn renew_token(&mut self, id: SocketId, until: Millis) {
        if let Some(s) = self.all.get_mut(&id) {
            let later = s.token_until.is_none_or(|t| until > t);
            if later {
                self.tokens.reschedule(s.token_until, until, id);
                s.token_until = Some(until);
            }
        }
    }

    /// The socket whose token ran out earliest, if by `now`.
    pub fn pop_token_expired(&mut self, now: Millis) -> Option<(Millis, SocketId)> {
        let (at, id) = self.tokens.pop_due(now)?;
        if let Some(s) = self.all.get_mut(&id) {
            s.token_until = None;
        }
        Some((at, id))
    }

    pub fn next_token_expiry(&self) -> Option<Millis> {
        self.tokens.next()
    }

    /// Sockets carrying `session` become plain subscribers (the session ended without them).
    pub fn detach_session(&mut self, session: &str) {
        for s in self.all.values_mut() {
            if s.session.as_deref() == Some(session) {
                s.session = None;
            }
        }
    }

    /// The sockets carrying `session`.
    pub fn carrying(&self, session: &str) -> Vec<SocketId> {
        let mut ids: Vec<SocketId> = self
            .all
            .iter()
            .filter(|(_, s)| s.session.as_deref() == Some(session))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The socket that fell silent earliest, if by `now`.
    pub fn pop_silent(&mut self, now: Millis) -> Option<(Millis, SocketId)> {
        let (at, id) = self.silence.pop_due(now)?;
        // keep the socket's own record in step with the queue it just left
        if let Some(s) = self.all.get_mut(&id) {
            s.silent_at = Millis::MAX;
        }
        Some((at, id))
    }

    /// Sockets whose silence deadline falls before `t`.
    pub fn silent_before(&self, t: Millis) -> Vec<SocketId> {
        self.silence.due_before(t).copied().collect()
    }

    pub fn next_silence(&self) -> Option<Millis> {
        self.silence.next()
    }

    /// The sockets that watch `entity`, in id order.
    pub fn watchers(&self, entity: &str) -> Vec<SocketId> {
        let mut ids: Vec<SocketId> = self
            .by_entity
            .get(entity)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// The views (a room, or `None` for the site alone) and the sockets viewing each.
    pub fn views(&self) -> impl Iterator<Item = (Option<&Rc<str>>, &HashSet<SocketId>)> {
        let site = (!self.site_only.is_empty()).then_some((None, &self.site_only));
        site.into_iter()
            .chain(self.by_room.iter().map(|(r, ids)| (Some(r), ids)))
    }

    /// The shared name of a viewed room (a new one if no socket views it yet).
    pub fn view_name(&self, room: &str) -> Rc<str> {
        match self.by_room.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => Rc::from(room),
        }
    }

    /// The sockets that receive the members of `room`.
    pub fn members_of(&self, room: &str) -> Vec<SocketId> {
        let mut ids: Vec<SocketId> = self
            .by_members
            .get(room)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Whether some socket receives the members of `room`.
    pub fn has_members_feed(&self, room: &str) -> bool {
        self.by_members.contains_key(room)
    }

    /// Rooms whose members some socket receives.
    pub fn members_rooms(&self) -> Vec<Rc<str>> {
        self.by_members.keys().cloned().collect()
    }

    /// The shared name of a watched entity (a new one if no socket watches it yet).
    pub fn watched_name(&self, entity: &str) -> Rc<str> {
        match self.by_entity.get_key_value(entity) {
            Some((k, _)) => k.clone(),
            None => Rc::from(entity),
        }
    }
}
