// The owner's dashboard: scales and ticks for the history chart. Pure functions of numbers and
// times (no DOM), so they are tested in Node (tests/dashboard-scale.test.mjs) as in the browser.
//
// Time ticks fall on round times of the VIEWER's clock (local midnight, whole local hours), not
// on UTC multiples: a viewer in India sees 14:00, not 14:30. Labels come from Intl in the
// viewer's locale. Value ticks are round counts (1, 2, 5 x 10^k), never fractions of a person.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** The ranges of /v1/history: step and number of points (the contract's). */
export const RANGES = {
  '1h': { step: MINUTE, points: 60, label: 'Last hour', short: 'last hour', unit: 'minute' },
  '24h': { step: 5 * MINUTE, points: 288, label: 'Last 24 hours', short: '24 hours', unit: '5 minutes' },
  '7d': { step: HOUR, points: 168, label: 'Last 7 days', short: '7 days', unit: 'hour' },
};

/**
 * Round value ticks from 0 to at least `max`, at most `maxTicks` intervals: steps of 1, 2, 2.5 or 5
 * times a power of ten, whole numbers only. `{ top, step, ticks }`; `top` >= max, and >= 1 (> max
 * below 5).
 */
export function valueTicks(max, maxTicks = 5) {
  const v = Math.ceil(Number.isFinite(max) ? max : 0);
  // A little room above a small peak, so that its line does not run along the top.
  const m = Math.max(1, v < 5 ? v + 1 : v);
  const n = Math.max(1, Math.floor(maxTicks));
  // Of the steps 1, 2, 2.5 (from 25 up, where it is whole) and 5 times a power of ten that
  // need at most n intervals, the one whose top is closest above the value (then the finer).
  let step = 1;
  let top = Infinity;
  for (let pow = 1; pow <= 1e15 && pow <= m * 10; pow *= 10) {
    for (const k of pow >= 10 ? [1, 2, 2.5, 5] : [1, 2, 5]) {
      const s = k * pow;
      const t = Math.ceil(m / s) * s;
      if (Math.ceil(m / s) <= n && t < top) {
        step = s;
        top = t;
      }
    }
  }
  if (!Number.isFinite(top)) [step, top] = [m, m]; // beyond 10^15 people: one interval
  const ticks = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  return { top, step, ticks };
}

// Tick intervals, smallest first: [unit, count]. Minutes and hours step on the local clock; days
// step on local midnights (a DST day is 23 or 25 hours long, and still one tick).
const INTERVALS = [
  ['minute', 1], ['minute', 2], ['minute', 5], ['minute', 10], ['minute', 15], ['minute', 30],
  ['hour', 1], ['hour', 2], ['hour', 3], ['hour', 6], ['hour', 12],
  ['day', 1], ['day', 2], ['day', 7],
];
const NOMINAL = { minute: MINUTE, hour: HOUR, day: DAY };

/** The first local time at or after `t` that is a multiple of the interval on the local clock. */
function firstTick(t, unit, count) {
  const d = new Date(t);
  d.setSeconds(0, 0);
  if (unit === 'minute') {
    d.setMinutes(Math.floor(d.getMinutes() / count) * count);
  } else if (unit === 'hour') {
    d.setMinutes(0);
    d.setHours(Math.floor(d.getHours() / count) * count);
  } else {
    d.setHours(0, 0, 0, 0);
  }
  while (d.getTime() < t) advance(d, unit, count);
  return d;
}

function advance(d, unit, count) {
  if (unit === 'minute') d.setMinutes(d.getMinutes() + count);
  else if (unit === 'hour') d.setHours(d.getHours() + count);
  else d.setDate(d.getDate() + count);
}

/** True when `t` is a local midnight. */
export function isMidnight(t) {
  const d = new Date(t);
  return d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0 && d.getMilliseconds() === 0;
}

/**
 * Time ticks in [start, end] (epoch ms), at most `maxTicks`: `{ unit, count, ticks: [{t, day}] }`
 * where `day` marks a local midnight (a tick labelled with the date rather than the time).
 */
export function timeTicks(start, end, maxTicks = 6) {
  const n = Math.max(1, Math.floor(maxTicks));
  const span = Math.max(0, end - start);
  const [unit, count] = INTERVALS.find(([u, c]) => span / (NOMINAL[u] * c) <= n) ?? INTERVALS[INTERVALS.length - 1];
  const ticks = [];
  const d = firstTick(start, unit, count);
  for (let i = 0; i < 1000 && d.getTime() <= end; i++) {
    const t = d.getTime();
    ticks.push({ t, day: isMidnight(t) });
    advance(d, unit, count);
  }
  return { unit, count, ticks };
}

/**
 * The label of a time tick: the date for midnights and day steps ("Nov 24", "24 Nov"), else the
 * local time ("14:00", "2:00 PM").
 */
export function tickLabel(t, unit, locale) {
  if (unit === 'day' || isMidnight(t)) {
    return new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric' }).format(t);
  }
  return new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' }).format(t);
}

/**
 * A step for a person: "14:05–14:06", or for 7 days "Tue 24, 14:00–15:00"; with `withDay`
 * (steps not of today) the weekday and date come first.
 */
export function stepLabel(t, step, locale, { now = Date.now() } = {}) {
  const time = new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' });
  const sameDay = new Date(t).toDateString() === new Date(now).toDateString();
  const day = sameDay
    ? ''
    : `${new Intl.DateTimeFormat(locale, { weekday: 'short', month: 'short', day: 'numeric' }).format(t)}, `;
  return `${day}${time.formatRange ? time.formatRange(t, t + step) : `${time.format(t)} – ${time.format(t + step)}`}`;
}

/**
 * A moment for a person: "14:05" today, "Sun 14:05" within the last six days, "Nov 16, 14:05"
 * before (a weekday alone would be ambiguous a week back).
 */
export function momentLabel(t, locale, { now = Date.now() } = {}) {
  const day = new Date(now);
  day.setHours(0, 0, 0, 0);
  const sixDaysAgo = new Date(day);
  sixDaysAgo.setDate(day.getDate() - 6);
  const time = { hour: 'numeric', minute: '2-digit' };
  const opts = t >= day.getTime()
    ? time
    : t >= sixDaysAgo.getTime()
      ? { weekday: 'short', ...time }
      : { month: 'short', day: 'numeric', ...time };
  return new Intl.DateTimeFormat(locale, opts).format(t);
}

/**
 * The highest point, as /v1/history chooses it: most sessions, then most visitors, then the
 * earliest; null when every point is 0.
 */
export function peakOf(points) {
  let best = null;
  for (const p of points) {
    if (p.sessions === 0 && p.visitors === 0) continue;
    if (!best || p.sessions > best.sessions || (p.sessions === best.sessions && p.visitors > best.visitors)) {
      best = { sessions: p.sessions, visitors: p.visitors, t: p.t };
    }
  }
  return best;
}

/** A count for a person, in the viewer's locale: 1,234 (compact from 100,000: 120K). */
export function formatCount(n, locale) {
  const big = Math.abs(n) >= 100_000;
  return new Intl.NumberFormat(locale, big ? { notation: 'compact', maximumFractionDigits: 1 } : {}).format(n);
}
