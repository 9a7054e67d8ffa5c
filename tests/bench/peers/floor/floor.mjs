// The floor: the smallest Durable Object that answers a request and broadcasts to its sockets.
// Nothing is validated, nothing is stored, no session is tracked: a ping moves a counter
// (join +1, leave -1, heartbeat 0), the object answers it and sends the counter to every socket
// it holds (hibernatable, `ping` answered `pong` by the runtime). What any presence service on
// Durable Objects must pay at least, per request and per socket.
//
// With the var FLOOR_STATE = "attachments" (the bench's wake-up, beside the plain floor): the
// floor that keeps what a socket is through hibernation, as any presence service must that
// still counts after a wake (a socket's room, and the session it carries). Each socket gets that
// as its attachment when it is accepted (one JSON string, as herenow keeps its own), and the
// first event after the object was constructed reads every socket's attachment back (the
// runtime's `deserializeAttachment`, then `JSON.parse`) and tallies the sockets per room, before
// it sends anything. Nothing else changes.

import { DurableObject } from 'cloudflare:workers';

export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.count = 0;
    this.stateful = env.FLOOR_STATE === 'attachments';
    this.rooms = null; // room -> sockets, once the attachments were read
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  async fetch(request) {
    if (request.headers.get('Upgrade') === 'websocket') {
      const { 0: client, 1: server } = new WebSocketPair();
      this.restore();
      this.ctx.acceptWebSocket(server);
      if (this.stateful) {
        const q = new URL(request.url).searchParams;
        const room = q.get('room') ?? '/';
        server.serializeAttachment(JSON.stringify({ room, session: q.get('session') }));
        this.rooms.set(room, (this.rooms.get(room) ?? 0) + 1);
      }
      server.send(this.message());
      return new Response(null, { status: 101, webSocket: client });
    }
    if (request.method === 'GET') return new Response(this.message(), { headers: { 'content-type': 'application/json' } });
    const { event } = await request.json();
    this.restore();
    if (event === 'join') this.count += 1;
    else if (event === 'leave') this.count -= 1;
    const message = this.message();
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
    return new Response(message, { headers: { 'content-type': 'application/json' } });
  }

  /** The stateful floor's wake-up: every socket's attachment, read once per construction. */
  restore() {
    if (!this.stateful || this.rooms) return;
    this.rooms = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      const text = ws.deserializeAttachment();
      const a = typeof text === 'string' ? JSON.parse(text) : null;
      if (a) this.rooms.set(a.room, (this.rooms.get(a.room) ?? 0) + 1);
    }
  }

  message() {
    return `{"type":"count","site":{"sessions":${this.count}}}`;
  }

  webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // already closed
    }
  }
}

export default {
  // The Worker only finds the object: the site is in the ping's body, or in `?site=` for a socket
  // and for `GET /v1/count`.
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/v1/live' || url.pathname === '/v1/count') {
      return env.FLOOR.get(env.FLOOR.idFromName(url.searchParams.get('site'))).fetch(request);
    }
    if (url.pathname === '/v1/ping' && request.method === 'POST') {
      const body = await request.text();
      const { site } = JSON.parse(body);
      return env.FLOOR.get(env.FLOOR.idFromName(site)).fetch('https://floor/ping', { method: 'POST', body });
    }
    return new Response('not found', { status: 404 });
  },
};
