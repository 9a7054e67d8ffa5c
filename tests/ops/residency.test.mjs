// Heartbeats write nothing, even when they are further apart than the runtime's 10 s
// hibernation grace: while sessions live that only HTTP heartbeats keep, the object stays in
// memory (a pending timer), so it never restores them from storage between heartbeats. An object
// with only sockets still hibernates (its sockets stay connected and cost nothing). Page views
// over sockets write no row at all (the socket's attachment keeps its session) and their
// throttled broadcasts wait on a timer in memory, not on the alarm (each setAlarm is billed as
// a row written).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isCount, sleep, startWorker, uid } from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker({
    vars: { HERENOW_TEST_HOOKS: 'true', PRESENCE_HEARTBEAT_SECONDS: '12', PRESENCE_TTL_SECONDS: '36' },
  });
});
after(() => w?.stop());

const memory = async (site) => {
  const res = await w.request(`/v1/_test/memory?site=${site}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
};

test('HTTP heartbeats 12 s apart for 40 s: the object stays loaded and writes no row', { timeout: 90_000 }, async () => {
  const site = w.site();
  const fields = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const start = await memory(site);
  for (let i = 0; i < 3; i++) {
    await sleep(12_500);
    await w.heartbeat(site, fields);
  }
  const end = await memory(site);
  assert.equal(end.loaded_at, start.loaded_at, 'not rebuilt between heartbeats');
  // the history keeps one row for the minute of the join (at most one per minute), nothing else
  const sessionRows = (m) => m.rows_written - m.history_rows_written;
  assert.equal(sessionRows(end), sessionRows(start), 'heartbeats wrote no row');
  assert.ok(end.history_rows_written - start.history_rows_written <= 1, 'at most the minute of the join');
  assert.equal(end.sessions, 1);
});

test('an object holding only sockets hibernates after the grace and its socket still counts', { timeout: 90_000 }, async () => {
  const site = w.site();
  const live = await w.openLive({ site, session: uid('s') });
  await live.next((m) => m?.type === 'count', 2000);
  const start = await memory(site);
  // 14 s of quiet is past the runtime's 10 s grace; an alarm inside it (the history's minute
  // boundary) restarts the grace, so a window may be tried again (each read wakes the object)
  let end = start;
  for (let window = 0; window < 3 && end.loaded_at === start.loaded_at; window++) {
    await sleep(14_000);
    end = await memory(site);
  }
  assert.ok(end.loaded_at > start.loaded_at, 'rebuilt: it had hibernated');
  assert.equal(end.sessions, 1, 'the socket session came back from its attachment');
  assert.equal(end.rows_written, 0, 'a wake-up with sockets writes no row');
  await live.close();
});

test('page views over sockets write no row and set the alarm at most 3 times for 20; each change still reaches a watcher within the promise', { timeout: 60_000 }, async () => {
  const site = w.site();
  const watcher = await w.openLive({ site });
  await watcher.next(isCount, 2000);
  const start = await memory(site);
  // what the watcher shows: its latest count message
  const shown = () => watcher.received.filter((e) => isCount(e.msg)).at(-1)?.msg.site.sessions;
  const promise = w.intervalMs + 250;
  // 20 views, a new one every 100 ms and each closing after the next 5 opened: joins and
  // closes come faster than the broadcast interval (500 ms), so most wait for it
  const views = [];
  let changed = 0;
  for (let i = 0; i < 20; i++) {
    const view = await w.openLive({ site, room: '/', session: uid('s'), visitor: uid('v') });
    await view.next(isCount, 2000);
    views.push(view);
    if (views.length > 5) await views.shift().close();
    changed = performance.now();
    await sleep(100);
  }
  await sleep(Math.max(0, changed + promise - performance.now()));
  assert.equal(shown(), 5, `the watcher shows the 5 open views ${promise} ms after the last change`);
  for (const view of views) await view.close();
  changed = performance.now();
  await sleep(promise);
  assert.equal(shown(), 0, `the watcher shows 0 ${promise} ms after the last close`);
  const end = await memory(site);
  await watcher.close();
  assert.equal(end.loaded_at, start.loaded_at, 'the same instance throughout');
  const sessionRows = (m) => m.rows_written - m.history_rows_written;
  assert.equal(sessionRows(end) - sessionRows(start), 0, 'no row written for 20 page views');
  // the first view's silence deadline, and a minute's history row on the alarm with its re-arm
  const alarms = end.alarms_set - start.alarms_set;
  console.log(`# page views: 20 views, ${alarms} setAlarm, ${sessionRows(end) - sessionRows(start)} session rows`);
  assert.ok(alarms <= 3, `${alarms} setAlarm calls for 20 page views`);
});
