#!/usr/bin/env node
// The seeds' design: a Socket.IO server that counts connections in memory and broadcasts the
// count to everyone on every connect and disconnect. WebSocket transport only (no long-polling
// upgrade dance), per-message deflate off (Socket.IO's default), nothing else changed: this is
// what the Socket.IO docs show for "N users online".
//
//   node tests/bench/peers/socketio/server.mjs --port P
//
// Prints `listening <port>` once it accepts connections. `GET /__bench/stats` answers the
// process's memory and the connection count, for the bench.

import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: server.mjs --port P');

const httpServer = http.createServer((req, res) => {
  if (req.url === '/__bench/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ connections: io.engine.clientsCount, memory: process.memoryUsage() }));
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, { transports: ['websocket'], serveClient: false });

io.on('connection', (socket) => {
  io.emit('count', { sessions: io.engine.clientsCount });
  socket.on('disconnect', () => {
    io.emit('count', { sessions: io.engine.clientsCount });
  });
});

httpServer.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
