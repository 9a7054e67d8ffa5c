//! The core's socket inputs: a socket opens (its first messages), sends a text (`ping`,
//! `away`, `back`, `signal`, `token`), falls silent or closes.

use super::broadcast::Sent;
use super::effects::{Close, Message, Send, Timing};
use super::messages;
use super::types::*;
use super::Presence;

impl Presence {
    /// A socket was accepted. Its first messages (the current counts with the timing, the
    /// status of each entity it watches, the members of its room) are in the next
    /// [`Presence::poll`]; they count as the socket's messages for this broadcast interval.
    pub fn socket_open(
        &mut self,
        now: Millis,
        spec: SocketSpec,
        stored: impl FnMut(&str) -> StoredEntity,
    ) -> Result<(), Refusal> {
        self.local.admit_socket(spec.address)?;
        if let Some(ss) = &spec.session {
            self.local.check_owner(&ss.session, ss.entity.as_deref())?;
            self.local.admit(&ss.session, spec.address)?;
        }
        let (id, view, members) = (spec.id, spec.view.clone(), spec.members.clone());
        let watch = spec.watch.clone();
        self.local.add_socket(now, spec, false, &mut self.out);
        self.route();
        self.first_counts(now, id, view.as_deref());
        for (entity, status) in self.statuses(&watch, stored) {
            self.out
                .sends
                .push(Send::one(id, Message::Status { entity, status }));
        }
        if let Some(room) = members {
            let message = self.members_message(&room);
            if let Some(s) = self.local.sockets.get_mut(id) {
                s.members_sent_at = Some(now);
            }
            self.out.sends.push(Send::one(id, message));
        }
        Ok(())
    }

    /// A new socket's first count message, with the timing; the throttle counts it as sent.
    fn first_counts(&mut self, now: Millis, id: SocketId, room: Option<&str>) {
        let view = self.view(room);
        if let Some(s) = self.local.sockets.get_mut(id) {
            s.sent = Some(Sent { at: now, view });
        }
        let timing = Timing {
            heartbeat_ms: self.cfg.heartbeat_ms,
            ttl_ms: self.cfg.ttl_ms,
            signal_ttl_ms: self.cfg.signal_ttl_ms,
        };
        let message = Message::Count {
            site: view.site,
            room: room.map(|r| RoomCounts::new(r, view.room.unwrap_or_default())),
            timing: Some(timing),
        };
        self.out.sends.push(Send::one(id, message));
    }

    /// A message arrived on a socket: a sign of life; `away` and `back` hide and show its
    /// session, `token` renews its token; a `ping` the runtime did not answer itself is
    /// answered. Anything but `ping` spends the socket's budget (20 in any 10 s: past it the
    /// socket is closed, 1008); a message over [`MAX_SOCKET_MESSAGE_BYTES`] closes it (1009).
    pub fn socket_message(&mut self, now: Millis, id: SocketId, message: Incoming<'_>) {
        if self.local.sockets.get(id).is_none() {
            return;
        }
        if message.len() > MAX_SOCKET_MESSAGE_BYTES {
            self.local
                .remove_socket(id, now, now, Closed::Abnormal, &mut self.out);
            self.out.closes.push(Close {
                socket: id,
                code: 1009,
                reason: "message too big",
            });
            self.route();
            return;
        }
        let is_ping =
            matches!(message, Incoming::Text(t) if t.trim().eq_ignore_ascii_case(messages::PING));
        if is_ping {
            self.out.sends.push(Send::one(id, Message::Pong));
        } else if !self.local.spend(id, now, &mut self.out) {
            self.route();
            return;
        }
        match message {
            Incoming::Text(text) => self.socket_word(now, id, text.trim()),
            Incoming::Token(Ok(until)) => self.local.renew_token(id, until),
            Incoming::Token(Err(why)) => {
                let message = Message::Error {
                    code: "bad_token",
                    message: why,
                    signal: None,
                };
                self.out.sends.push(Send::one(id, message));
            }
            Incoming::Binary(_) => {}
        }
        self.local.socket_seen(id, now);
        self.route();
    }

    /// `away` or `back` on a socket: its session hides or shows; `signal <name>` and
    /// `signal-end <name>` begin (or renew) and end a signal of the entity session it carries
    /// (a refusal is told on the socket, and changes nothing).
    fn socket_word(&mut self, now: Millis, id: SocketId, word: &str) {
        let (verb, rest) = word.split_once(' ').unwrap_or((word, ""));
        let v = if verb.eq_ignore_ascii_case(messages::AWAY) {
            Visibility::Away
        } else if verb.eq_ignore_ascii_case(messages::BACK) {
            Visibility::Visible
        } else if verb.eq_ignore_ascii_case(messages::SIGNAL)
            || verb.eq_ignore_ascii_case(messages::SIGNAL_END)
        {
            let on = verb.eq_ignore_ascii_case(messages::SIGNAL);
            self.socket_signal(now, id, rest.trim(), on);
            return;
        } else {
            return;
        };
        self.local.socket_visibility(now, id, v, &mut self.out);
    }

    /// A signal sent on socket `id`.
    fn socket_signal(&mut self, now: Millis, id: SocketId, name: &str, on: bool) {
        let session = (self.local.sockets.get(id))
            .and_then(|s| s.session.clone())
            .filter(|s| self.local.entity_of(s).is_some());
        let checked = match &session {
            Some(s) => self.local.check_signal(s, None, name, on, now),
            None => Err(Refusal::BadSignal),
        };
        match (checked, session) {
            (Ok(()), Some(s)) => self.local.signal(now, &s, name, on),
            (Err(refusal), _) => {
                let (code, message) = signal_refusal(refusal);
                let signal = valid_signal(name).then(|| name.to_owned());
                let message = Message::Error {
                    code,
                    message,
                    signal,
                };
                self.out.sends.push(Send::one(id, message));
            }
            (Ok(()), None) => {}
        }
    }

    #[cfg(test)]
    /// A sign of life from a socket at `at` (a message, or a ping the runtime answered).
    pub fn socket_seen(&mut self, id: SocketId, at: Millis) {
        self.local.socket_seen(id, at);
        self.route();
    }

    /// A socket closed at `now`, as its close code says. Its session ends unless another socket
    /// carries it, or (after an abnormal close) an HTTP hold still runs.
    pub fn socket_closed(&mut self, now: Millis, id: SocketId, how: Closed) {
        self.local.remove_socket(id, now, now, how, &mut self.out);
        self.route();
    }
}

/// How a refused signal is told on a socket: the code and message an HTTP answer would carry.
fn signal_refusal(refusal: Refusal) -> (&'static str, &'static str) {
    match refusal {
        Refusal::TooManySignals => ("rate_limited", TOO_MANY_SIGNALS),
        _ => ("bad_request", BAD_SIGNAL),
    }
}
