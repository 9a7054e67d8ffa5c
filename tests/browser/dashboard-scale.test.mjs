// The dashboard chart's scales (public/dashboard-scale.js), natively in Node: round value ticks,
// time ticks on the VIEWER's clock (India is UTC+5:30, New York changes its clock in the range),
// labels, and the peak chosen by the server's rule. No Worker, no browser.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DAY, HOUR, MINUTE, formatCount, momentLabel, peakOf, tickLabel, timeTicks, valueTicks } from '../../public/dashboard-scale.js';

/** Runs `fn` with the process's time zone set to `tz` (Node reads TZ again when it changes). */
function inZone(tz, fn) {
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

test('value ticks are whole, round counts from 0 that reach the highest value', () => {
  const cases = [
    // max, maxTicks, expected ticks
    [0, 5, [0, 1]],
    [1, 5, [0, 1, 2]], // a little room above a small peak
    [4, 5, [0, 1, 2, 3, 4, 5]],
    [7, 5, [0, 2, 4, 6, 8]],
    [31, 5, [0, 10, 20, 30, 40]],
    [48, 5, [0, 10, 20, 30, 40, 50]],
    [48, 3, [0, 25, 50]],
    [1234, 5, [0, 250, 500, 750, 1000, 1250]],
    [99_999, 4, [0, 25_000, 50_000, 75_000, 100_000]],
  ];
  for (const [max, n, ticks] of cases) {
    const got = valueTicks(max, n);
    assert.deepEqual(got.ticks, ticks, `valueTicks(${max}, ${n})`);
    assert.equal(got.top, ticks.at(-1));
    assert.ok(got.ticks.length - 1 <= n, 'at most maxTicks intervals');
    assert.ok(got.ticks.every(Number.isInteger), 'no fraction of a person');
  }
});

test('time ticks fall on round times of the viewer\'s clock, not on UTC multiples', () => {
  inZone('Asia/Kolkata', () => {
    const end = Date.UTC(2026, 10, 23, 12, 7); // 17:37 in India
    // an hour: every 10 minutes
    const hour = timeTicks(end - HOUR, end, 8);
    assert.deepEqual([hour.unit, hour.count], ['minute', 10]);
    assert.equal(hour.ticks.length, 6);
    for (const { t } of hour.ticks) assert.equal(new Date(t).getMinutes() % 10, 0);
    // a day: every 3 hours of Indian time, i.e. at half past a UTC hour
    const day = timeTicks(end - DAY, end, 8);
    assert.deepEqual([day.unit, day.count], ['hour', 3]);
    for (const { t } of day.ticks) {
      const d = new Date(t);
      assert.equal(d.getHours() % 3, 0);
      assert.equal(d.getMinutes(), 0);
      assert.equal(t % HOUR, 30 * MINUTE, 'on the local hour, which is :30 in UTC');
    }
    assert.equal(day.ticks.filter((x) => x.day).length, 1, 'one midnight in a day, marked');
    assert.equal(tickLabel(day.ticks.find((x) => x.day).t, day.unit, 'en-US'), 'Nov 23');
    assert.equal(tickLabel(day.ticks.find((x) => !x.day && new Date(x.t).getHours() === 15).t, day.unit, 'en-US'), '3:00 PM');
    assert.equal(tickLabel(day.ticks.find((x) => !x.day && new Date(x.t).getHours() === 15).t, day.unit, 'en-GB'), '15:00');
    // a week: local midnights
    const week = timeTicks(end - 7 * DAY, end, 8);
    assert.deepEqual([week.unit, week.count], ['day', 1]);
    assert.equal(week.ticks.length, 7);
    for (const { t, day: isDay } of week.ticks) {
      assert.ok(isDay);
      assert.equal(new Date(t).getHours(), 0);
    }
    // a phone's narrow chart: fewer, wider steps
    assert.deepEqual([timeTicks(end - 7 * DAY, end, 4).count, timeTicks(end - 7 * DAY, end, 4).unit], [2, 'day']);
  });
});

test('a week across a change of the clock (New York, 1 November 2026) still ticks on each local midnight', () => {
  inZone('America/New_York', () => {
    const end = Date.UTC(2026, 10, 4, 17, 0);
    const week = timeTicks(end - 7 * DAY, end, 8);
    assert.equal(week.unit, 'day');
    for (const { t } of week.ticks) assert.equal(new Date(t).getHours(), 0, new Date(t).toString());
    const gaps = week.ticks.slice(1).map((x, i) => (x.t - week.ticks[i].t) / HOUR);
    assert.ok(gaps.includes(25), `the day the clocks go back is 25 hours long: ${gaps}`);
  });
});

test('moments read as a person says them: the time today, the weekday this week, the date before', () => {
  inZone('UTC', () => {
    const now = Date.UTC(2026, 10, 23, 15, 0); // a Monday
    assert.equal(momentLabel(Date.UTC(2026, 10, 23, 9, 5), 'en-US', { now }), '9:05 AM');
    assert.equal(momentLabel(Date.UTC(2026, 10, 22, 21, 5), 'en-US', { now }), 'Sun 9:05 PM');
    assert.equal(momentLabel(Date.UTC(2026, 10, 16, 21, 0), 'en-US', { now }), 'Nov 16, 9:00 PM');
  });
});

test('the peak is chosen as /v1/history chooses it: most sessions, then visitors, then the earliest', () => {
  const p = (t, sessions, visitors) => ({ t, sessions, visitors });
  assert.equal(peakOf([p(0, 0, 0), p(60, 0, 0)]), null);
  assert.deepEqual(peakOf([p(0, 3, 2), p(60, 5, 4), p(120, 5, 4), p(180, 5, 5), p(240, 4, 4)]), { t: 180, sessions: 5, visitors: 5 });
  assert.deepEqual(peakOf([p(0, 2, 2), p(60, 2, 2)]), { t: 0, sessions: 2, visitors: 2 });
});

test('counts are written in the viewer\'s locale, compact only when large', () => {
  assert.equal(formatCount(1234, 'en-US'), '1,234');
  assert.equal(formatCount(1234, 'de-DE'), '1.234');
  assert.equal(formatCount(120_000, 'en-US'), '120K');
});
