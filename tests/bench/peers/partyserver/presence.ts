// The usual Workers choice: a presence counter on partyserver (npm `partyserver`), a Durable
// Object with hibernation on, written as its README shows (`onStart`, `onConnect`, `onClose`,
// `onRequest`, `broadcast`) and routed with `routePartykitRequest`.
//
// Same semantics as herenow as far as they carry over, so that the same driver load means the
// same work: `POST /v1/ping` {site, session, visitor, event: join|heartbeat|leave} (a heartbeat
// of an unknown session is a join); `GET /v1/count?site=S`; `GET /v1/live?site=S[&session=ID&
// visitor=ID]` a socket that receives `{"type":"count","site":{"sessions","visitors"}}` at once
// and on every change, and counts as a session when it names one. Joins and leaves are stored
// (SQLite, one row per session) so that counts survive hibernation; heartbeats only touch
// memory. A session silent for the ttl is swept by an alarm. Every change is broadcast at once
// to every socket (no throttle: that is what partyserver gives you). Not carried over: rooms,
// hashed visitors, entities, validation beyond what the counter needs.

import { routePartykitRequest, Server, type Connection, type ConnectionContext } from 'partyserver';

interface Env {
  Presence: DurableObjectNamespace;
  PRESENCE_TTL_SECONDS?: string;
}

interface Session {
  visitor: string;
  seen: number;
}

interface Ping {
  site?: string;
  session?: string;
  visitor?: string;
  event?: string;
}

const ID = /^[A-Za-z0-9_-]{8,64}$/;

export class Presence extends Server<Env> {
  // The platform holds the sockets while the object sleeps; `ping` is answered without waking it.
  static options = { hibernate: true };

  sessions = new Map<string, Session>();
  visitors = new Map<string, number>();
  /** An expiry sweep is scheduled (checked in storage once per start). */
  alarmArmed = false;

  get ttlMs(): number {
    return Number(this.env.PRESENCE_TTL_SECONDS ?? 45) * 1000;
  }

  onStart(): void {
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    this.sql`CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, visitor TEXT NOT NULL)`;
    const now = Date.now();
    for (const row of this.sql<{ id: string; visitor: string }>`SELECT id, visitor FROM sessions`) {
      this.add(row.id, row.visitor, now);
    }
    // Sockets that carry a session were restored with the object; count them again.
    for (const conn of this.getConnections<{ session: string; visitor: string } | null>()) {
      const s = conn.state;
      if (s && !this.sessions.has(s.session)) this.add(s.session, s.visitor, Infinity);
    }
  }

  counts() {
    return { sessions: this.sessions.size, visitors: this.visitors.size };
  }

  message(): string {
    return JSON.stringify({ type: 'count', site: this.counts() });
  }

  add(session: string, visitor: string, seen: number): void {
    this.sessions.set(session, { visitor, seen });
    this.visitors.set(visitor, (this.visitors.get(visitor) ?? 0) + 1);
  }

  remove(session: string): boolean {
    const s = this.sessions.get(session);
    if (!s) return false;
    this.sessions.delete(session);
    const n = (this.visitors.get(s.visitor) ?? 1) - 1;
    if (n > 0) this.visitors.set(s.visitor, n);
    else this.visitors.delete(s.visitor);
    return true;
  }

  async join(session: string, visitor: string, seen: number): Promise<void> {
    this.add(session, visitor, seen);
    this.sql`INSERT OR REPLACE INTO sessions (id, visitor) VALUES (${session}, ${visitor})`;
    if (!this.alarmArmed) {
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.ttlMs);
      this.alarmArmed = true;
    }
  }

  leave(session: string): boolean {
    if (!this.remove(session)) return false;
    this.sql`DELETE FROM sessions WHERE id = ${session}`;
    return true;
  }

  async onRequest(request: Request): Promise<Response> {
    if (request.method === 'GET') return new Response(this.message(), { headers: { 'content-type': 'application/json' } });
    const p = (await request.json()) as Ping;
    if (!p.session || !ID.test(p.session) || !['join', 'heartbeat', 'leave'].includes(p.event ?? '')) {
      return Response.json({ error: { code: 'bad_request' } }, { status: 400 });
    }
    const visitor = p.visitor && ID.test(p.visitor) ? p.visitor : p.session;
    const now = Date.now();
    let changed = false;
    if (p.event === 'leave') {
      changed = this.leave(p.session);
    } else {
      const known = this.sessions.get(p.session);
      if (known) known.seen = Math.max(known.seen, now);
      else {
        await this.join(p.session, visitor, now);
        changed = true;
      }
    }
    const body = this.message();
    if (changed) this.broadcast(body);
    return new Response(body, { headers: { 'content-type': 'application/json' } });
  }

  async onConnect(conn: Connection, ctx: ConnectionContext): Promise<void> {
    const url = new URL(ctx.request.url);
    const session = url.searchParams.get('session');
    if (session && ID.test(session)) {
      const visitor = url.searchParams.get('visitor') ?? session;
      conn.setState({ session, visitor });
      await this.join(session, ID.test(visitor) ? visitor : session, Infinity);
      this.broadcast(this.message());
    } else {
      conn.send(this.message());
    }
  }

  onClose(conn: Connection<{ session: string } | null>): void {
    const s = conn.state;
    if (s && this.leave(s.session)) this.broadcast(this.message());
  }

  onAlarm(): void {
    const cutoff = Date.now() - this.ttlMs;
    let changed = false;
    for (const [id, s] of this.sessions) {
      if (s.seen < cutoff) changed = this.leave(id) || changed;
    }
    if (changed) this.broadcast(this.message());
    this.alarmArmed = this.sessions.size > 0;
    if (this.alarmArmed) void this.ctx.storage.setAlarm(Date.now() + this.ttlMs);
  }
}

export default {
  // The herenow paths, mapped onto partyserver's `/parties/:party/:room` routing.
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    let site: string | null = null;
    let routed = request;
    if (url.pathname === '/v1/live' || url.pathname === '/v1/count') {
      site = url.searchParams.get('site');
      if (site) routed = new Request(new URL(`/parties/presence/${encodeURIComponent(site)}${url.search}`, url), request);
    } else if (url.pathname === '/v1/ping' && request.method === 'POST') {
      const body = await request.text();
      site = (JSON.parse(body) as Ping).site ?? null;
      if (site) {
        routed = new Request(new URL(`/parties/presence/${encodeURIComponent(site)}`, url), { method: 'POST', body });
      }
    }
    if (!site) return new Response('not found', { status: 404 });
    return (await routePartykitRequest(routed, env as unknown as Record<string, unknown>)) ?? new Response('not found', { status: 404 });
  },
};
