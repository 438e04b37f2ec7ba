// chart.js — canvas drawing: sparklines for the fleet grid and time charts
// for the host page.
//
// Hand-written rather than a vendored library: the charts need a few
// things only (a time axis, lines, a min–max band, a shared cursor, drag to
// zoom), and the page stays plain modules with no third-party code to keep
// current. Time charts thin their points to the pixel width, keeping each
// pixel column's first, lowest, highest and last value, so tens of
// thousands of points cost one pass and a one-sample spike still shows.
//
// Canvases are sized to their CSS box times the device pixel ratio and
// drawn in CSS pixels. Colours come from CSS custom properties, so light
// and dark themes need no code here; `refreshColors()` re-reads them when
// the colour scheme changes. Charts draw on request only (the caller
// batches requests per animation frame).

import { el, setText } from "./dom.js";
import { clock, dateTime, monthDay } from "./format.js";

let colorCache = new Map();

/** The value of a CSS custom property on the root, e.g. `--cpu`. */
export function cssColor(name) {
  let color = colorCache.get(name);
  if (color === undefined) {
    color = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
    colorCache.set(name, color);
  }
  return color;
}

export function refreshColors() {
  colorCache = new Map();
}

/** Resizes the backing store to the CSS box; returns the 2D context in CSS pixels, or null when hidden. */
function prepare(canvas) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return null;
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(width * ratio);
  const h = Math.round(height * ratio);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

/** Fills the current path with `color` at `alpha`, whatever CSS syntax the colour uses. */
function fillSoft(ctx, color, alpha) {
  ctx.save();
  ctx.globalAlpha = alpha;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.restore();
}

/** Draws the values of a ring (0–100) as a line over a soft fill. */
export function drawSparkline(canvas, ring, colorVar) {
  const box = prepare(canvas);
  if (!box) return;
  const { ctx, width, height } = box;
  // A baseline over the whole width, so a host with few samples yet does
  // not look broken: the line grows in from the right, where "now" is.
  ctx.fillStyle = cssColor("--grid");
  ctx.fillRect(0, height - 1, width, 1);
  if (ring.length === 0) return;
  const color = cssColor(colorVar);
  const step = width / Math.max(1, ring.values.length - 1);
  const offset = (ring.values.length - ring.length) * step;
  const y = (v) => height - 1 - (Math.min(100, Math.max(0, v)) / 100) * (height - 2);
  ctx.beginPath();
  ring.forEach((v, i) => {
    const x = offset + i * step;
    if (i === 0) ctx.moveTo(x, y(v));
    else ctx.lineTo(x, y(v));
  });
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.25;
  ctx.lineJoin = "round";
  ctx.stroke();
  ctx.lineTo(offset + (ring.length - 1) * step, height);
  ctx.lineTo(offset, height);
  ctx.closePath();
  fillSoft(ctx, color, 0.15);
}

/** A value axis from 0 to a round number at or above `max`. */
function niceCeiling(max) {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= max) return step * magnitude;
  }
  return 10 * magnitude;
}

/** The first index whose timestamp is at or after `ts` (points sorted by time). */
function lowerBound(points, ts) {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const PAD = { right: 10, top: 10, bottom: 22 };
const MINUTE = 60e3;
const HOUR = 3600e3;
const DAY = 24 * HOUR;
const TICK_STEPS_MS = [
  15e3, 30e3, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY,
];
/** A drag narrower than this many pixels is a click, not a zoom. */
const MIN_DRAG_PX = 5;

/**
 * A line chart over a time range, one line per series. `series` is
 * `[{label, color}]` with `color` a CSS custom property name; `format(value)`
 * prints axis and legend values; `max` fixes the axis (100 for
 * percentages), otherwise it follows the data from `minTop` up.
 *
 * Points are `[ts, value, min, max]`: a rollup point of the store carries
 * the lowest and highest sample of its bucket, drawn as a band around the
 * line. `onHover(ts | null)` reports the cursor so every chart of a page
 * can show it (`setHover`); `onZoom(from, to)` reports a drag across the
 * plot, and `onPick(ts)` a click on it (the time under the pointer).
 */
export class TimeChart {
  constructor({ title, series, format, max = null, minTop = 1, onHover = () => {}, onZoom = () => {}, onPick = () => {} }) {
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.format = format;
    this.max = max;
    this.minTop = minTop;
    this.gapMs = 15000;
    this.hoverTs = null;
    this.drag = null;
    this.onHover = onHover;
    this.onZoom = onZoom;
    this.onPick = onPick;
    this.from = 0;
    this.to = 1;
    this.plot = null;
    this.canvas = el("canvas", { class: "chart-canvas", role: "img", "aria-label": title });
    this.legendValues = this.series.map(() => el("span", { class: "legend-value", text: "–" }));
    this.legendTime = el("span", { class: "legend-time" });
    const legend = el(
      "div",
      { class: "legend" },
      this.series.map((s, i) =>
        el(
          "span",
          { class: "legend-item" },
          el("i", { class: "swatch", style: { background: `var(${s.color})` } }),
          el("span", { class: "legend-label", text: s.label }),
          this.legendValues[i],
        ),
      ),
      this.legendTime,
    );
    this.element = el(
      "figure",
      { class: "chart" },
      el("figcaption", {}, el("span", { class: "chart-title", text: title }), legend),
      this.canvas,
    );
    this.listen();
  }

  listen() {
    const c = this.canvas;
    c.addEventListener("mousemove", (e) => {
      if (this.drag) {
        this.drag.x1 = this.clampX(e.offsetX);
        this.draw();
      }
      this.onHover(this.tsAt(e.offsetX));
    });
    c.addEventListener("mouseleave", () => this.onHover(null));
    c.addEventListener("mousedown", (e) => {
      if (e.button !== 0 || this.tsAt(e.offsetX) === null) return;
      e.preventDefault();
      const x = this.clampX(e.offsetX);
      this.drag = { x0: x, x1: x };
      const end = (up) => {
        window.removeEventListener("mouseup", end);
        const drag = this.drag;
        this.drag = null;
        if (!drag) return;
        const rect = c.getBoundingClientRect();
        drag.x1 = this.clampX(up.clientX - rect.left);
        this.draw();
        if (Math.abs(drag.x1 - drag.x0) < MIN_DRAG_PX) {
          const ts = this.tsAt(drag.x1);
          if (ts !== null) this.onPick(Math.round(ts));
          return;
        }
        const a = this.tsAt(Math.min(drag.x0, drag.x1));
        const b = this.tsAt(Math.max(drag.x0, drag.x1));
        if (a !== null && b !== null && b > a) this.onZoom(Math.round(a), Math.round(b));
      };
      window.addEventListener("mouseup", end);
    });
  }

  clampX(x) {
    if (!this.plot) return x;
    return Math.min(this.plot.x + this.plot.w, Math.max(this.plot.x, x));
  }

  /** The time under pixel `x` of the last drawing, or null outside the plot. */
  tsAt(x) {
    const p = this.plot;
    if (!p || x < p.x - 2 || x > p.x + p.w + 2) return null;
    const f = Math.min(1, Math.max(0, (x - p.x) / p.w));
    return this.from + f * (this.to - this.from);
  }

  /** Gaps longer than this break the line instead of bridging them. */
  setGap(ms) {
    this.gapMs = ms;
  }

  /** The shared cursor's time, or null. */
  setHover(ts) {
    this.hoverTs = ts;
  }

  /** Replaces the history of series `i`, keeping live points newer than it. */
  setHistory(i, points) {
    const s = this.series[i];
    const last = points.length > 0 ? points[points.length - 1][0] : -Infinity;
    s.points = points.concat(s.points.filter((p) => p[0] > last));
  }

  /** Empties every series, e.g. before the history of another range. */
  clear() {
    for (const s of this.series) s.points = [];
  }

  /** Drops points older than `ts`, so a sliding window does not grow. */
  trimBefore(ts) {
    for (const s of this.series) {
      const drop = lowerBound(s.points, ts);
      if (drop > 0) s.points.splice(0, drop);
    }
  }

  /** Appends one live point to series `i`. */
  append(i, ts, value) {
    const points = this.series[i].points;
    const last = points[points.length - 1];
    if (!last || ts > last[0]) points.push([ts, value, value, value]);
    else if (ts === last[0]) points[points.length - 1] = [ts, value, value, value];
    else {
      const at = lowerBound(points, ts);
      if (points[at]?.[0] === ts) points[at] = [ts, value, value, value];
      else points.splice(at, 0, [ts, value, value, value]);
    }
  }

  /** Redraws for the range `from`..`to` (defaults to the last call's). */
  draw(from = this.from, to = this.to) {
    this.from = from;
    this.to = Math.max(to, from + 1);
    const box = prepare(this.canvas);
    if (!box) return;
    const { ctx, width, height } = box;
    const span = this.to - this.from;
    const top = this.axisTop();
    ctx.font = "11px system-ui, sans-serif";
    // The value labels decide the left margin, so no unit is ever cut off.
    let labelWidth = 0;
    for (let i = 0; i <= 4; i += 1) {
      labelWidth = Math.max(labelWidth, ctx.measureText(this.format((top * i) / 4)).width);
    }
    const left = Math.ceil(labelWidth) + 12;
    const plot = {
      x: left,
      y: PAD.top,
      w: Math.max(10, width - left - PAD.right),
      h: Math.max(10, height - PAD.top - PAD.bottom),
    };
    this.plot = plot;
    const xOf = (ts) => plot.x + ((ts - this.from) / span) * plot.w;
    const yOf = (v) => plot.y + plot.h - (Math.max(0, v) / top) * plot.h;
    this.drawAxes(ctx, plot, top, yOf);
    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y - 1, plot.w, plot.h + 2);
    ctx.clip();
    let points = 0;
    let columns = 0;
    this.series.forEach((s) => {
      const drawn = this.drawSeries(ctx, s, cssColor(s.color), xOf, yOf, plot);
      points += drawn.points;
      columns += drawn.columns;
    });
    ctx.restore();
    this.canvas.dataset.points = String(points);
    this.canvas.dataset.from = String(Math.round(this.from));
    this.canvas.dataset.to = String(Math.round(this.to));
    this.canvas.dataset.columns = String(columns);
    this.drawDrag(ctx, plot);
    this.drawHover(ctx, plot, xOf, yOf);
  }

  /** The visible index range of a series' points, one either side so lines run to the edges. */
  visible(points) {
    const start = Math.max(0, lowerBound(points, this.from) - 1);
    const end = Math.min(points.length, lowerBound(points, this.to + 1) + 1);
    return [start, end];
  }

  axisTop() {
    if (this.max !== null) return this.max;
    let max = 0;
    for (const s of this.series) {
      const [start, end] = this.visible(s.points);
      for (let i = start; i < end; i += 1) if (s.points[i][3] > max) max = s.points[i][3];
    }
    return niceCeiling(Math.max(this.minTop, max * 1.1));
  }

  drawAxes(ctx, plot, top, yOf) {
    ctx.fillStyle = cssColor("--muted");
    ctx.strokeStyle = cssColor("--grid");
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= 4; i += 1) {
      const v = (top * i) / 4;
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, y);
      ctx.lineTo(plot.x + plot.w, y);
      ctx.stroke();
      ctx.fillText(this.format(v), plot.x - 6, y);
    }
    const span = this.to - this.from;
    const step = TICK_STEPS_MS.find((s) => (plot.w / span) * s >= 70) ?? 30 * DAY;
    const label = step >= DAY ? monthDay : (t) => clock(t, step < MINUTE);
    // Ticks fall on round local times (midnight for days).
    const offset = new Date(this.from).getTimezoneOffset() * MINUTE;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let t = Math.ceil((this.from - offset) / step) * step + offset; t <= this.to; t += step) {
      const x = plot.x + ((t - this.from) / span) * plot.w;
      ctx.fillText(label(t), x, plot.y + plot.h + 6);
    }
  }

  /**
   * Thins the visible points of one series to pixel columns: each column
   * keeps its first, lowest, highest and last value, and the band its
   * lowest minimum and highest maximum. Returns the columns, `brk` marking
   * one that starts after a gap.
   */
  columns(s, xOf) {
    const [start, end] = this.visible(s.points);
    const out = [];
    let c = null;
    let prevTs = null;
    for (let i = start; i < end; i += 1) {
      const [ts, v, lo, hi] = s.points[i];
      const x = Math.round(xOf(ts));
      const gap = prevTs !== null && ts - prevTs > this.gapMs;
      prevTs = ts;
      if (c && c.x === x && !gap) {
        c.last = v;
        if (v < c.min) c.min = v;
        if (v > c.max) c.max = v;
        if (lo < c.lo) c.lo = lo;
        if (hi > c.hi) c.hi = hi;
        continue;
      }
      c = { x, first: v, last: v, min: v, max: v, lo, hi, brk: gap || out.length === 0 };
      out.push(c);
    }
    return { columns: out, points: Math.max(0, end - start) };
  }

  /** Draws one series; returns how many points and pixel columns it drew. */
  drawSeries(ctx, s, color, xOf, yOf, plot) {
    const { columns, points } = this.columns(s, xOf);
    if (columns.length === 0) return { points: 0, columns: 0 };
    const runs = [];
    for (const c of columns) {
      if (c.brk) runs.push([]);
      runs[runs.length - 1].push(c);
    }
    const baseline = plot.y + plot.h;
    for (const r of runs) {
      // The min–max band of rollup points: above along the highs, back
      // along the lows.
      if (r.some((c) => c.hi > c.lo)) {
        ctx.beginPath();
        r.forEach((c, i) => (i === 0 ? ctx.moveTo(c.x, yOf(c.hi)) : ctx.lineTo(c.x, yOf(c.hi))));
        for (let i = r.length - 1; i >= 0; i -= 1) ctx.lineTo(r[i].x, yOf(r[i].lo));
        ctx.closePath();
        fillSoft(ctx, color, 0.22);
      }
      ctx.beginPath();
      r.forEach((c, i) => {
        if (i === 0) ctx.moveTo(c.x, yOf(c.first));
        else ctx.lineTo(c.x, yOf(c.first));
        if (c.max !== c.min) {
          ctx.lineTo(c.x, yOf(c.min));
          ctx.lineTo(c.x, yOf(c.max));
        }
        ctx.lineTo(c.x, yOf(c.last));
      });
      if (r.length === 1) ctx.lineTo(r[0].x + 1.5, yOf(r[0].last));
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.lineJoin = "round";
      ctx.stroke();
      // Fills of three or more lines stack into a block: lines only then.
      if (this.series.length > 2) continue;
      ctx.lineTo(r[r.length - 1].x, baseline);
      ctx.lineTo(r[0].x, baseline);
      ctx.closePath();
      fillSoft(ctx, color, 0.1);
    }
    return { points, columns: columns.length };
  }

  /** The span being dragged across, shaded. */
  drawDrag(ctx, plot) {
    if (!this.drag) return;
    const x = Math.min(this.drag.x0, this.drag.x1);
    const w = Math.abs(this.drag.x1 - this.drag.x0);
    ctx.beginPath();
    ctx.rect(x, plot.y, w, plot.h);
    fillSoft(ctx, cssColor("--accent"), 0.18);
  }

  /** The legend shows the latest values, or the values at the shared cursor. */
  drawHover(ctx, plot, xOf, yOf) {
    const at = this.hoverTs !== null && this.hoverTs >= this.from && this.hoverTs <= this.to ? this.hoverTs : null;
    this.series.forEach((s, i) => {
      const point = at === null ? s.points[s.points.length - 1] : nearest(s.points, at);
      let text = "–";
      if (point) {
        text = this.format(point[1]);
        if (point[3] > point[2]) text += ` (${this.format(point[2])}–${this.format(point[3])})`;
      }
      setText(this.legendValues[i], text);
      if (at !== null && point) {
        ctx.beginPath();
        ctx.arc(xOf(point[0]), yOf(point[1]), 3, 0, 2 * Math.PI);
        ctx.fillStyle = cssColor(s.color);
        ctx.fill();
      }
    });
    const long = this.to - this.from > 20 * HOUR;
    setText(this.legendTime, at === null ? "" : long ? dateTime(at) : clock(at, true));
    this.legendTime.dataset.ts = at === null ? "" : String(Math.round(at));
    if (at !== null) {
      const x = Math.round(xOf(at)) + 0.5;
      ctx.strokeStyle = cssColor("--muted");
      ctx.beginPath();
      ctx.moveTo(x, plot.y);
      ctx.lineTo(x, plot.y + plot.h);
      ctx.stroke();
    }
  }
}

/** The point closest in time to `ts`. */
function nearest(points, ts) {
  if (points.length === 0) return null;
  const lo = Math.min(points.length - 1, lowerBound(points, ts));
  const before = points[Math.max(0, lo - 1)];
  const after = points[lo];
  return Math.abs(before[0] - ts) < Math.abs(after[0] - ts) ? before : after;
}
