// Upgrade: an object whose storage was made by an older herenow (its first schema: `sessions`
// and `entities` as rowid tables, without the columns added since) keeps its rows when a newer
// herenow starts on it. The old tables are written into the object's own SQLite file (local
// workerd keeps one per object in the persisted directory) between two wrangler starts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { startWorker, uid } from '../kit/harness.mjs';

const vars = { PRESENCE_HEARTBEAT_SECONDS: '5', PRESENCE_TTL_SECONDS: '60' };
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-upgrade-'));
let w;
after(async () => {
  await w?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

/** The SQLite file of the object that stores `site` (its `meta` row names it). */
function objectFile(site) {
  const dir = path.join(stateDir, 'do');
  const files = fs
    .readdirSync(dir, { recursive: true })
    .map((f) => path.join(dir, f))
    .filter((f) => f.endsWith('.sqlite') && path.basename(f) !== 'metadata.sqlite');
  const found = files.filter((f) => {
    const db = new DatabaseSync(f);
    try {
      const meta = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
      return meta && db.prepare("SELECT value FROM meta WHERE key = 'site'").get()?.value === site;
    } finally {
      db.close();
    }
  });
  assert.equal(found.length, 1, `one object file of ${site} among ${files.length}`);
  return found[0];
}

const tableSql = (db, name) => db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name)?.sql ?? '';

test('an object stored by the first schema keeps its sessions and entities when a newer herenow starts on it', { timeout: 120_000 }, async () => {
  w = await startWorker({ vars, persistDir: stateDir });
  const site = w.site();
  const a = { room: '/a', session: uid('s'), visitor: uid('v') };
  const b = { room: '/b', session: uid('s'), visitor: uid('v') };
  await w.join(site, a);
  await w.join(site, b);
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 });
  await w.stop();

  // The tables as the first schema made them, holding the rows this run stored, and an
  // entity's last-seen time.
  const file = objectFile(site);
  let db = new DatabaseSync(file);
  const rows = db.prepare('SELECT id, room, visitor, joined_at, restored_at FROM sessions ORDER BY id').all();
  assert.equal(rows.length, 2, 'both joins were stored');
  db.exec(`
    DROP TABLE sessions;
    DROP TABLE entities;
    CREATE TABLE sessions (id TEXT PRIMARY KEY, room TEXT NOT NULL, visitor TEXT NOT NULL,
      joined_at INTEGER NOT NULL, restored_at INTEGER);
    CREATE TABLE entities (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL);
  `);
  const insert = db.prepare('INSERT INTO sessions (id, room, visitor, joined_at, restored_at) VALUES (?, ?, ?, ?, ?)');
  for (const r of rows) insert.run(r.id, r.room, r.visitor, r.joined_at, r.restored_at);
  const lastSeen = Date.now() - 60_000;
  db.prepare('INSERT INTO entities (id, last_seen) VALUES (?, ?)').run('user:ada', lastSeen);
  assert.ok(!tableSql(db, 'sessions').includes('WITHOUT ROWID'));
  db.close();

  // A newer herenow on the same storage: the stored sessions count again at once.
  w = await startWorker({ vars, persistDir: stateDir });
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 }, 'the old rows count');
  assert.deepEqual((await w.count(site, '/b')).room, { room: '/b', sessions: 1, visitors: 1 });
  // and the object works on: a heartbeat, a leave (a row deleted) and a new join (a row written)
  await w.heartbeat(site, a);
  await w.leave(site, b);
  const c = { room: '/c', session: uid('s'), visitor: uid('v') };
  await w.join(site, c);
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 });
  await w.stop();
  w = null;

  // The tables are the current ones (WITHOUT ROWID, every column), their rows kept.
  db = new DatabaseSync(file);
  try {
    for (const name of ['sessions', 'entities']) {
      assert.match(tableSql(db, name), /WITHOUT ROWID/, `${name} was rebuilt`);
    }
    assert.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE '%_old'").get().n, 0, 'no table left behind');
    const columns = db.prepare('PRAGMA table_info(sessions)').all().map((c) => c.name);
    for (const col of ['entity', 'info', 'away']) assert.ok(columns.includes(col), `sessions.${col}: ${columns}`);
    const ids = db.prepare('SELECT id FROM sessions ORDER BY id').all().map((r) => r.id);
    assert.deepEqual(ids, [a.session, c.session].sort());
    const entity = db.prepare('SELECT id, last_seen, online_since, info FROM entities').all();
    assert.deepEqual(entity.map((e) => ({ ...e })), [{ id: 'user:ada', last_seen: lastSeen, online_since: null, info: null }]);
  } finally {
    db.close();
  }
});
