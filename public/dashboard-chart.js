// The owner's dashboard: the history chart, an SVG written by hand (no library: two series, a
// peak, a crosshair and axes are a few hundred lines, and nothing third-party reaches the page).
//
// Drawn in CSS pixels of its container (the viewBox is the measured size, so text is never
// scaled) and drawn again when the container resizes. One point per step of /v1/history, placed
// in the middle of its step; the last step holds "now" and is still filling: it is hatched, its
// segment dashed, its point a ring, and the live count raises it as it arrives. The peak (the
// server's rule: most sessions, then visitors, then the earliest) is marked and labelled.
// Pointer (mouse, pen, touch) and the arrow keys move a crosshair that shows a step's time and
// values. For assistive technology: <title> and <desc> (range, peak, now), the crosshair's text
// in a polite live region, and the page's data table (see dashboard.js).
//
// For tests and tools, the <svg> carries data-range, data-step-ms, data-points and
// data-peak-sessions / data-peak-visitors / data-peak-t (absent when there is no peak).

import { RANGES, formatCount, momentLabel, peakOf, stepLabel, tickLabel, timeTicks, valueTicks } from './dashboard-scale.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
let uniq = 0;

function svg(name, attrs = {}, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

const r1 = (v) => Math.round(v * 10) / 10;

export class HistoryChart {
  /** `root`: an empty, positioned element that the chart fills. */
  constructor(root, { locale } = {}) {
    this.root = root;
    this.locale = locale;
    this.id = `hc${++uniq}`;
    this.data = null; // { range, step, points: [{t, sessions, visitors}], peak }
    this.hover = null; // index of the step under the crosshair
    this.width = 0;

    this.svg = svg('svg', { class: 'hc', role: 'img', 'aria-labelledby': `${this.id}-title ${this.id}-desc` });
    this.tip = document.createElement('div');
    this.tip.className = 'hc-tip';
    this.tip.hidden = true;
    this.tip.setAttribute('aria-hidden', 'true');
    this.said = document.createElement('div');
    this.said.className = 'visually-hidden';
    this.said.setAttribute('aria-live', 'polite');
    root.append(this.svg, this.tip, this.said);

    root.tabIndex = 0;
    root.addEventListener('keydown', (e) => this.onKey(e));
    root.addEventListener('blur', () => this.setHover(null));
    this.svg.addEventListener('pointermove', (e) => this.onPointer(e));
    this.svg.addEventListener('pointerdown', (e) => this.onPointer(e));
    this.svg.addEventListener('pointerleave', (e) => {
      if (e.pointerType === 'mouse') this.setHover(null);
    });
    // A tap elsewhere hides a touch crosshair.
    document.addEventListener('pointerdown', (e) => {
      if (!root.contains(e.target)) this.setHover(null);
    });

    let queued = false;
    this.resizer = new ResizeObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        if (this.root.clientWidth !== this.width) this.render();
      });
    });
    this.resizer.observe(root);
  }

  /**
   * A /v1/history answer. Returns true when the range holds no one at all (every point 0), so
   * the page says so instead of drawing a flat line on a meaningless axis.
   */
  setData(history) {
    const range = RANGES[history.range] ? history.range : '1h';
    this.data = {
      range,
      step: history.step_ms,
      points: history.points.map((p) => ({ t: p.t, sessions: p.sessions, visitors: p.visitors })),
      serverPeak: history.peak,
    };
    if (this.live) this.raiseLast(this.live);
    if (this.hover !== null && this.hover >= this.data.points.length) this.hover = null;
    this.render();
    return this.isEmpty();
  }

  /** The live count: the step in progress held at least this much. */
  setLive(counts) {
    this.live = { sessions: counts.sessions, visitors: counts.visitors };
    if (!this.data) return false;
    if (!this.raiseLast(this.live)) return this.isEmpty();
    this.render();
    return this.isEmpty();
  }

  raiseLast({ sessions, visitors }) {
    const last = this.data.points[this.data.points.length - 1];
    if (!last || (sessions <= last.sessions && visitors <= last.visitors)) return false;
    last.sessions = Math.max(last.sessions, sessions);
    last.visitors = Math.max(last.visitors, visitors);
    return true;
  }

  isEmpty() {
    return !this.data || this.data.points.every((p) => p.sessions === 0 && p.visitors === 0);
  }

  /** The peak to mark: the server's, unless the live count has since passed it. */
  peak() {
    const mine = peakOf(this.data.points);
    const theirs = this.data.serverPeak;
    if (!theirs) return mine;
    if (mine && (mine.sessions > theirs.sessions || (mine.sessions === theirs.sessions && mine.visitors > theirs.visitors))) return mine;
    return theirs;
  }

  render() {
    const W = this.root.clientWidth;
    this.width = W;
    const s = this.svg;
    s.replaceChildren();
    if (!this.data || W === 0) return;
    const { points, step, range } = this.data;
    const n = points.length;
    const narrow = W < 520;
    // Tall enough to read a week; beside the rooms list (wide screens) about as tall as it.
    const H = narrow ? 220 : Math.round(Math.min(400, Math.max(260, W * 0.56)));
    s.setAttribute('viewBox', `0 0 ${W} ${H}`);
    s.setAttribute('width', W);
    s.setAttribute('height', H);
    s.dataset.range = range;
    s.dataset.stepMs = step;
    s.dataset.points = n;
    const peak = this.peak();
    if (peak) {
      s.dataset.peakSessions = peak.sessions;
      s.dataset.peakVisitors = peak.visitors;
      s.dataset.peakT = peak.t;
    } else {
      delete s.dataset.peakSessions;
      delete s.dataset.peakVisitors;
      delete s.dataset.peakT;
    }

    const locale = this.locale;
    const top = 38;
    const bottom = 28;
    const maxValue = Math.max(0, ...points.map((p) => Math.max(p.sessions, p.visitors)));
    const plotH0 = H - top - bottom;
    const yt = valueTicks(maxValue, Math.max(2, Math.floor(plotH0 / 52)));
    const yLabels = yt.ticks.map((v) => formatCount(v, locale));
    const left = Math.max(26, 12 + 7.4 * Math.max(...yLabels.map((l) => l.length)));
    const right = 14;
    const plotW = Math.max(10, W - left - right);
    const plotH = plotH0;
    const t0 = points[0].t;
    const tEnd = points[n - 1].t + step;
    const x = (t) => left + ((t - t0) / (tEnd - t0)) * plotW;
    const y = (v) => top + plotH - (v / yt.top) * plotH;
    const cx = (i) => x(points[i].t + step / 2);
    this.geom = { left, right, top, plotW, plotH, W, H, x, y, cx };

    // Title and description (the chart's text alternative).
    const title = svg('title', { id: `${this.id}-title` }, s);
    title.textContent = `Sessions and visitors, ${RANGES[range].label.toLowerCase()}`;
    const desc = svg('desc', { id: `${this.id}-desc` }, s);
    desc.textContent = this.summary(peak);

    const defs = svg('defs', {}, s);
    const grad = svg('linearGradient', { id: `${this.id}-fill`, x1: 0, y1: 0, x2: 0, y2: 1 }, defs);
    svg('stop', { offset: '0%', class: 'hc-fill-top' }, grad);
    svg('stop', { offset: '100%', class: 'hc-fill-bottom' }, grad);
    const hatch = svg('pattern', { id: `${this.id}-hatch`, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    svg('rect', { width: 6, height: 6, class: 'hc-hatch-bg' }, hatch);
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hc-hatch' }, hatch);

    // Value axis: round counts, a line each.
    const grid = svg('g', { class: 'hc-grid', 'aria-hidden': 'true' }, s);
    yt.ticks.forEach((v, i) => {
      const yy = Math.round(y(v)) + 0.5;
      svg('line', { x1: left, x2: left + plotW, y1: yy, y2: yy, class: v === 0 ? 'hc-axis' : 'hc-gridline' }, grid);
      const label = svg('text', { x: left - 8, y: yy, class: 'hc-label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, grid);
      label.textContent = yLabels[i];
    });

    // Time axis: round local times (midnights labelled with the day, and drawn across).
    const xt = timeTicks(t0, tEnd, Math.max(2, Math.floor(plotW / (narrow ? 62 : 84))));
    const xaxis = svg('g', { class: 'hc-xaxis', 'aria-hidden': 'true' }, s);
    xaxis.dataset.unit = `${xt.count}${xt.unit}`;
    for (const tick of xt.ticks) {
      const xx = Math.round(x(tick.t)) + 0.5;
      if (tick.day && xt.unit !== 'day') svg('line', { x1: xx, x2: xx, y1: top, y2: top + plotH, class: 'hc-dayline' }, xaxis);
      svg('line', { x1: xx, x2: xx, y1: top + plotH, y2: top + plotH + 5, class: 'hc-axis' }, xaxis);
      const label = tickLabel(tick.t, xt.unit, locale);
      const w = label.length * 6.6;
      let anchor = 'middle';
      if (xx - w / 2 < 2) anchor = 'start';
      else if (xx + w / 2 > W - 2) anchor = 'end';
      const text = svg('text', { x: anchor === 'start' ? Math.max(xx, 2) : xx, y: top + plotH + 19, class: `hc-label${tick.day ? ' hc-label-day' : ''}`, 'text-anchor': anchor }, xaxis);
      text.dataset.t = tick.t;
      text.textContent = label;
    }

    // The step in progress.
    const lastX = x(points[n - 1].t);
    svg('rect', { x: r1(lastX), y: top, width: r1(Math.max(1, x(tEnd) - lastX)), height: plotH, fill: `url(#${this.id}-hatch)`, class: 'hc-now-band' }, s);

    // Series: sessions as an area and a line, visitors as a line; the last segment dashed.
    const path = (key, from, to) => {
      let d = '';
      for (let i = from; i <= to; i++) d += `${i === from ? 'M' : 'L'}${r1(cx(i))},${r1(y(points[i][key]))}`;
      return d;
    };
    const base = r1(y(0));
    svg('path', { d: `${path('sessions', 0, n - 1)}L${r1(cx(n - 1))},${base}L${r1(cx(0))},${base}Z`, fill: `url(#${this.id}-fill)`, class: 'hc-area' }, s);
    for (const key of ['visitors', 'sessions']) {
      const g = svg('g', { class: `hc-series hc-${key}` }, s);
      if (n > 1) svg('path', { d: path(key, 0, n - 2), class: 'hc-line' }, g);
      if (n > 1) svg('path', { d: path(key, n - 2, n - 1), class: 'hc-line hc-line-now' }, g);
      svg('circle', { cx: r1(cx(n - 1)), cy: r1(y(points[n - 1][key])), r: 3.5, class: 'hc-now-dot' }, g);
    }

    // The peak: a guide to the axis, a dot, and a label that stays inside the chart.
    if (peak) {
      const i = points.findIndex((p) => p.t === peak.t);
      if (i >= 0) {
        const px = cx(i);
        const py = y(peak.sessions);
        const g = svg('g', { class: 'hc-peak' }, s);
        g.dataset.t = peak.t;
        svg('line', { x1: r1(px), x2: r1(px), y1: r1(py), y2: top + plotH, class: 'hc-peak-guide' }, g);
        svg('circle', { cx: r1(px), cy: r1(py), r: 5, class: 'hc-peak-dot' }, g);
        const text = svg('text', { y: r1(Math.max(14, py - 14)), class: 'hc-peak-label' }, g);
        const strong = svg('tspan', { class: 'hc-peak-value' }, text);
        strong.textContent = `Peak ${formatCount(peak.sessions, locale)}`;
        const when = svg('tspan', { class: 'hc-peak-when' }, text);
        when.textContent = ` · ${this.when(peak.t)}`;
        const est = (strong.textContent.length + when.textContent.length) * 6.8;
        let width = est;
        try {
          width = text.getComputedTextLength() || est;
        } catch {
          // not rendered yet
        }
        const padX = 7;
        const lx = Math.min(Math.max(px - width / 2, left + 2 + padX), W - right - width - padX);
        text.setAttribute('x', r1(lx));
        const box = svg('rect', { x: r1(lx - padX), y: r1(Math.max(14, py - 14) - 13), width: r1(width + 2 * padX), height: 19, rx: 9.5, class: 'hc-peak-box' });
        g.insertBefore(box, text);
      }
    }

    // Crosshair (shown on hover, touch, or keys) and the surface that catches the pointer.
    const cross = svg('g', { class: 'hc-cross', visibility: 'hidden', 'aria-hidden': 'true' }, s);
    svg('line', { y1: top, y2: top + plotH, class: 'hc-cross-line' }, cross);
    svg('circle', { r: 4, class: 'hc-cross-dot hc-cross-sessions' }, cross);
    svg('circle', { r: 4, class: 'hc-cross-dot hc-cross-visitors' }, cross);
    this.cross = cross;
    svg('rect', { x: left, y: 0, width: plotW, height: H, class: 'hc-surface' }, s);
    this.setHover(this.hover, { quiet: true });
  }

  /** "21:05" for today, "Tue 24, 21:05" otherwise; the hour for 7 days. */
  when(t) {
    return momentLabel(t, this.locale);
  }

  summary(peak) {
    const { points, range, step } = this.data;
    const last = points[points.length - 1];
    const nf = (v) => formatCount(v, this.locale);
    const parts = [`${RANGES[range].label}, one point per ${RANGES[range].unit}.`];
    if (peak) parts.push(`Peak: ${nf(peak.sessions)} sessions and ${nf(peak.visitors)} visitors, ${stepLabel(peak.t, step, this.locale)}.`);
    else parts.push('Nobody was on the site in this range.');
    parts.push(`Now (in progress): ${nf(last.sessions)} sessions, ${nf(last.visitors)} visitors.`);
    return parts.join(' ');
  }

  onPointer(e) {
    if (!this.geom || !this.data) return;
    const rect = this.svg.getBoundingClientRect();
    const px = ((e.clientX - rect.left) / rect.width) * this.geom.W;
    const n = this.data.points.length;
    const i = Math.round(((px - this.geom.left) / this.geom.plotW) * n - 0.5);
    this.setHover(Math.min(n - 1, Math.max(0, i)), { quiet: true });
  }

  onKey(e) {
    if (!this.data) return;
    const n = this.data.points.length;
    const cur = this.hover ?? n - 1;
    const moves = { ArrowLeft: cur - 1, ArrowRight: cur + 1, Home: 0, End: n - 1, PageUp: cur - 10, PageDown: cur + 10 };
    if (e.key === 'Escape') {
      this.setHover(null);
      return;
    }
    if (!(e.key in moves)) return;
    e.preventDefault();
    this.setHover(Math.min(n - 1, Math.max(0, this.hover === null ? n - 1 : moves[e.key])));
  }

  /** Shows the crosshair and tooltip on step `i` (null hides them); `quiet`: not read aloud. */
  setHover(i, { quiet = false } = {}) {
    this.hover = i;
    if (!this.cross || !this.data || i === null || i === undefined || !this.data.points[i]) {
      this.cross?.setAttribute('visibility', 'hidden');
      this.tip.hidden = true;
      return;
    }
    const { points, step } = this.data;
    const { cx, y, W, top, plotW, left } = this.geom;
    const p = points[i];
    const xx = cx(i);
    const [line, dotS, dotV] = this.cross.children;
    line.setAttribute('x1', r1(xx));
    line.setAttribute('x2', r1(xx));
    dotS.setAttribute('cx', r1(xx));
    dotS.setAttribute('cy', r1(y(p.sessions)));
    dotV.setAttribute('cx', r1(xx));
    dotV.setAttribute('cy', r1(y(p.visitors)));
    this.cross.setAttribute('visibility', 'visible');

    const nf = (v) => formatCount(v, this.locale);
    const inProgress = i === points.length - 1;
    const peak = this.peak();
    const isPeak = peak && peak.t === p.t;
    const tip = this.tip;
    tip.replaceChildren();
    const head = document.createElement('div');
    head.className = 'hc-tip-time';
    head.textContent = stepLabel(p.t, step, this.locale);
    tip.append(head);
    for (const [key, label] of [['sessions', 'Sessions'], ['visitors', 'Visitors']]) {
      const row = document.createElement('div');
      row.className = `hc-tip-row hc-tip-${key}`;
      const k = document.createElement('span');
      k.textContent = label;
      const v = document.createElement('b');
      v.textContent = nf(p[key]);
      row.append(k, v);
      tip.append(row);
    }
    if (inProgress || isPeak) {
      const tag = document.createElement('div');
      tag.className = 'hc-tip-tag';
      tag.textContent = [isPeak ? 'Peak of the range' : '', inProgress ? 'In progress: still filling' : ''].filter(Boolean).join(' · ');
      tip.append(tag);
    }
    tip.hidden = false;
    tip.dataset.index = i;
    const tw = tip.offsetWidth;
    let tx = xx + 14;
    if (tx + tw > W - 4) tx = xx - 14 - tw;
    tip.style.left = `${Math.max(left - 4, Math.min(tx, left + plotW - tw), 0)}px`;
    tip.style.top = `${top - 6}px`;
    if (!quiet) {
      this.said.textContent = `${head.textContent}: ${nf(p.sessions)} sessions, ${nf(p.visitors)} visitors${inProgress ? ', in progress' : ''}${isPeak ? ', the peak' : ''}.`;
    }
  }
}
