// A TCP proxy between the browser and the Worker, on 127.0.0.1, that a test can turn against
// the browser's connections at the network level: cut a WebSocket right after its upgrade,
// refuse new connections, or silence existing ones (bytes are read and dropped both ways, and
// no FIN or RST is sent: for the browser the connection is half-open, exactly as when a NAT
// forgets it or a server stops answering). Not a test file itself.
//
// Every connection is told apart by the head of its first request: a WebSocket upgrade
// (`kind: 'socket'`) or plain HTTP (`kind: 'http'`), with the request path. Browsers open a
// dedicated connection for each WebSocket, so the first request of a connection is enough.
// The proxy can also serve a test's own page (`pages`): a page of another origin, or one made
// up by page.route, may not open sockets to 127.0.0.1 (Chromium's local network access checks).

import net from 'node:net';

export class TestProxy {
  /** Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort) {
    const proxy = new TestProxy(targetPort);
    await new Promise((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    proxy.port = proxy.server.address().port;
    proxy.base = `http://127.0.0.1:${proxy.port}`;
    return proxy;
  }

  constructor(targetPort) {
    this.targetPort = targetPort;
    /** Connections being forwarded: {kind, path, at, frozen, end()}. */
    this.connections = new Set();
    /**
     * Decides for each new connection: 'pass', 'refuse' (closed before anything is forwarded),
     * 'freeze' (accepted, then silent) or {cutAfterMs} (forwarded, then closed after that long).
     */
    this.policy = () => 'pass';
    /**
     * Pages the proxy answers itself (path -> HTML, or {contentType, body} for other files), so
     * that a test page has the Worker's origin.
     */
    this.pages = new Map();
    this.server = net.createServer((client) => this.accept(client));
  }

  accept(client) {
    client.setNoDelay(true);
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < 65536) return;
      client.off('data', onData);
      const text = head.toString('latin1', 0, end < 0 ? head.length : end);
      const conn = {
        kind: /\r\nupgrade:\s*websocket/i.test(text) ? 'socket' : 'http',
        path: text.slice(0, text.indexOf('\r\n')).split(' ')[1] ?? '',
        at: Date.now(),
        frozen: false,
      };
      const page = this.pages.get(conn.path);
      if (page !== undefined) {
        const { contentType = 'text/html; charset=utf-8', body: text } = typeof page === 'string' ? { body: page } : page;
        const body = Buffer.from(text);
        client.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: ${contentType}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]));
        return;
      }
      const verdict = this.policy(conn);
      if (verdict === 'refuse') {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      upstream.setNoDelay(true);
      conn.end = () => {
        client.destroy();
        upstream.destroy();
        this.connections.delete(conn);
      };
      this.connections.add(conn);
      upstream.on('error', conn.end);
      client.on('close', conn.end);
      upstream.on('close', conn.end);
      upstream.write(head);
      client.on('data', (c) => conn.frozen || upstream.write(c));
      upstream.on('data', (c) => conn.frozen || client.write(c));
      if (verdict === 'freeze') conn.frozen = true;
      else if (verdict && verdict.cutAfterMs != null) setTimeout(conn.end, verdict.cutAfterMs);
    };
    client.on('data', onData);
  }

  /** Silences the open connections that `filter` picks; returns how many. */
  freeze(filter = () => true) {
    let n = 0;
    for (const c of this.connections) {
      if (!c.frozen && filter(c)) {
        c.frozen = true;
        n++;
      }
    }
    return n;
  }

  /** Closes the open connections that `filter` picks. */
  cut(filter = () => true) {
    for (const c of [...this.connections]) if (filter(c)) c.end();
  }

  /** Forwards every new connection again (frozen ones stay frozen). */
  pass() {
    this.policy = () => 'pass';
  }

  async stop() {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
