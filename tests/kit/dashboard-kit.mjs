// A known load for the dashboard's tests: a week of a site's traffic played into one Durable
// Object in a few seconds, by moving the object's clock (the /v1/_test/clock hook) forward from
// seven days ago to now and joining or leaving HTTP sessions at each stop. Not a test file.
//
// The shape: a daily curve (quiet nights, busy evenings) with a clear peak yesterday evening
// (PEAK_DAY sessions) and a smaller one in the last hour (PEAK_HOUR), in a dozen rooms; about
// one new session in four is a second tab of a visitor already there. Everything comes from a
// seeded generator, so a run is the same every time, and the test reads the truth back from
// /v1/history (whose own correctness history.test.mjs checks against a recount).
// About 530 pings in all: under the Worker's 600 pings a minute per client and site (PING_LIMITER),
// which the local runtime enforces; a denser load would be refused with 429.

import assert from 'node:assert/strict';

import { uid } from './harness.mjs';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export const PEAK_DAY = 48;
export const PEAK_HOUR = 31;

const ROOMS = [
  ['/', 9], ['/pricing', 6], ['/docs/getting-started', 5], ['/blog/launch-week', 4], ['product:123', 4],
  ['/docs/api/history', 3], ['/checkout', 2], ['/changelog', 2], ['/about', 1], ['/careers', 1],
  ['/shop/espresso-grinder-with-conical-burrs-and-a-very-long-product-path', 1], ['/contact', 1],
];

/** A small seeded generator (mulberry32): the same load on every run. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sessions wanted at `t` (ms before now `ago`): nights ~3, evenings ~25, plus the two peaks. */
function target(ago, rnd) {
  if (ago <= 26 * MIN && ago > 24 * MIN) return PEAK_HOUR; // the last hour's peak (one 2-minute stop)
  if (ago <= 20 * HOUR + 10 * MIN && ago > 19 * HOUR + 55 * MIN) return PEAK_DAY; // yesterday evening
  const hourOfDay = (((-ago / HOUR) % 24) + 24 + 20) % 24; // 20:00 "now" is the evening rush
  const curve = 0.5 - 0.5 * Math.cos(((hourOfDay - 8) / 24) * 2 * Math.PI); // 0 at 08:00, 1 at 20:00
  const daily = 3 + 24 * curve ** 1.4;
  const noise = (rnd() - 0.5) * 4;
  const ramp = ago < HOUR ? 0.65 + 0.35 * (1 - ago / HOUR) : 1; // the last hour climbs
  const cap = ago > 2 * HOUR ? PEAK_DAY - 8 : PEAK_HOUR - 3; // nothing near the last hour beats its peak
  return Math.max(1, Math.min(cap, Math.round(daily * ramp + noise)));
}

/** The stops of the load, oldest first, as ms before now: 4 h apart, then 20 min, then 2 min. */
export function stops() {
  const out = [];
  for (let ago = 7 * DAY - 2 * HOUR; ago > DAY; ago -= 4 * HOUR) out.push(ago);
  for (let ago = DAY; ago > HOUR; ago -= 20 * MIN) out.push(ago);
  out.push(20 * HOUR + 5 * MIN); // yesterday's peak (between two 20-minute stops)
  out.push(20 * HOUR - 5 * MIN);
  for (let ago = 58 * MIN; ago >= 2 * MIN; ago -= 2 * MIN) out.push(ago);
  return [...new Set(out)].sort((a, b) => b - a);
}

/**
 * Plays the load into `site` of worker `w` (its sessions must outlive an hour of object time:
 * PRESENCE_TTL_SECONDS of a day), ending with the object's clock back on the real time.
 * Returns `{ live, requests, ms }`: the sessions still there at the end.
 */
export async function playWeek(w, site, { seed = 7 } = {}) {
  const rnd = random(seed);
  const start = Date.now();
  // The object comes to life with the first request, on the real clock, and stores that minute
  // (nobody there) when the clock jumps back a week; the load writes that minute again below.
  const firstMinute = start - (start % MIN);
  let requests = 0;
  const live = []; // { room, session, visitor, seen } oldest first
  const setClock = async (objectNow) => {
    const res = await w.request(`/v1/_test/clock?site=${site}&offset_ms=${Math.round(objectNow - Date.now())}`);
    requests += 1;
    assert.equal(res.status, 200, res.text);
  };
  const weights = ROOMS.reduce((s, [, wgt]) => s + wgt, 0);
  const pickRoom = () => {
    let r = rnd() * weights;
    for (const [room, wgt] of ROOMS) if ((r -= wgt) < 0) return room;
    return '/';
  };
  for (const ago of stops()) {
    const now = Date.now() - ago;
    await setClock(now);
    // Sessions that would run out of their day-long hold get a heartbeat (one per day each).
    for (const s of live) {
      if (now - s.seen > 20 * HOUR) {
        await w.heartbeat(site, { room: s.room, session: s.session, visitor: s.visitor });
        s.seen = now;
        requests += 1;
      }
    }
    const want = target(ago, rnd);
    while (live.length < want) {
      const twin = live.length > 0 && rnd() < 0.25 ? live[live.length - 1] : null;
      const s = { room: pickRoom(), session: uid('s'), visitor: twin ? twin.visitor : uid('v'), seen: now };
      await w.join(site, { room: s.room, session: s.session, visitor: s.visitor });
      live.push(s);
      requests += 1;
    }
    while (live.length > want) {
      const s = live.splice(Math.floor(rnd() * live.length), 1)[0];
      await w.leave(site, { room: s.room, session: s.session, visitor: s.visitor });
      requests += 1;
    }
  }
  // Back to the minute the object was born in (still forward: the last stop was 2 minutes before
  // the real time), and one tab changes room there, so that the minute is stored again with the
  // load's counts (rows are replaced) instead of the empty one the object began with.
  await setClock(firstMinute + 30_000);
  const mover = live[live.length - 1];
  await w.leave(site, { room: mover.room, session: mover.session, visitor: mover.visitor });
  mover.session = uid('s');
  await w.join(site, { room: mover.room, session: mover.session, visitor: mover.visitor });
  requests += 3;
  await setClock(Date.now());
  return { live, requests, ms: Date.now() - start };
}
