// chart.js — canvas drawing: sparklines for the fleet grid and time charts
// for the host page.
//
// Canvases are sized to their CSS box times the device pixel ratio and
// drawn in CSS pixels. Colours come from CSS custom properties, so light
// and dark themes need no code here; `refreshColors()` re-reads them when
// the colour scheme changes. Charts draw on request only (the caller
// batches requests per animation frame).

import { el, setText } from "./dom.js";
import { clock } from "./format.js";

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

/** Merges two sorted point lists; on equal timestamps `newer` wins. */
function mergePoints(older, newer) {
  const byTs = new Map();
  for (const p of older) byTs.set(p[0], p[1]);
  for (const p of newer) byTs.set(p[0], p[1]);
  return [...byTs.entries()].sort((a, b) => a[0] - b[0]);
}

const PAD = { right: 10, top: 10, bottom: 22 };
const TICK_STEPS_MS = [15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3];

/**
 * A line chart over a sliding time window (the last hour by default), one
 * line per series. `series` is `[{label, color}]` with `color` a CSS custom
 * property name; `format(value)` prints axis and legend values; `max` fixes
 * the axis (100 for percentages), otherwise it follows the data from
 * `minTop` up. Points are kept for `keepMs`, so a narrower window (`setWindow`)
 * can widen again without a refetch.
 */
export class TimeChart {
  constructor({ title, series, format, max = null, minTop = 1, windowMs = 3600e3, keepMs = windowMs }) {
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.format = format;
    this.max = max;
    this.minTop = minTop;
    this.windowMs = windowMs;
    this.keepMs = Math.max(keepMs, windowMs);
    this.gapMs = 15000;
    this.hoverX = null;
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
    this.canvas.addEventListener("mousemove", (e) => {
      this.hoverX = e.offsetX;
      this.draw();
    });
    this.canvas.addEventListener("mouseleave", () => {
      this.hoverX = null;
      this.draw();
    });
  }

  /** Shows the last `ms` milliseconds. */
  setWindow(ms) {
    this.windowMs = ms;
    this.keepMs = Math.max(this.keepMs, ms);
  }

  /** Gaps longer than this break the line instead of bridging them. */
  setGap(ms) {
    this.gapMs = ms;
  }

  /** Loads history for series `i`, keeping live points newer than it. */
  setHistory(i, points) {
    this.series[i].points = mergePoints(points, this.series[i].points);
  }

  /** Appends one live point to series `i`. */
  append(i, ts, value) {
    const points = this.series[i].points;
    const last = points[points.length - 1];
    if (!last || ts > last[0]) points.push([ts, value]);
    else if (ts === last[0]) last[1] = value;
    else this.series[i].points = mergePoints(points, [[ts, value]]);
  }

  /** Redraws for the window ending at `now` (defaults to the last call's). */
  draw(now = this.now ?? Date.now()) {
    this.now = now;
    const from = now - this.windowMs;
    const keepFrom = now - this.keepMs - 60e3;
    for (const s of this.series) {
      let drop = 0;
      while (drop < s.points.length && s.points[drop][0] < keepFrom) drop += 1;
      if (drop > 0) s.points.splice(0, drop);
    }
    const box = prepare(this.canvas);
    if (!box) return;
    const { ctx, width, height } = box;
    const top = this.axisTop(from);
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
    const xOf = (ts) => plot.x + ((ts - from) / this.windowMs) * plot.w;
    const yOf = (v) => plot.y + plot.h - (Math.max(0, v) / top) * plot.h;
    this.drawAxes(ctx, plot, from, now, top, yOf);
    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y - 1, plot.w, plot.h + 2);
    ctx.clip();
    let drawn = 0;
    this.series.forEach((s) => {
      drawn += this.drawLine(ctx, s, cssColor(s.color), xOf, yOf, plot, from);
    });
    ctx.restore();
    this.canvas.dataset.points = String(drawn);
    this.drawHover(ctx, plot, from, xOf, yOf);
  }

  axisTop(from) {
    if (this.max !== null) return this.max;
    let max = 0;
    for (const s of this.series) for (const [ts, v] of s.points) if (ts >= from && v > max) max = v;
    return niceCeiling(Math.max(this.minTop, max * 1.1));
  }

  drawAxes(ctx, plot, from, now, top, yOf) {
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
    const span = now - from;
    const step = TICK_STEPS_MS.find((s) => (plot.w / span) * s >= 70) ?? 3600e3;
    const seconds = step < 60e3;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let t = Math.ceil(from / step) * step; t <= now; t += step) {
      const x = plot.x + ((t - from) / span) * plot.w;
      ctx.fillText(clock(t, seconds), x, plot.y + plot.h + 6);
    }
  }

  /** Draws one series; returns how many points it drew. */
  drawLine(ctx, s, color, xOf, yOf, plot, from) {
    const visible = s.points.filter((p) => p[0] >= from);
    if (visible.length === 0) return 0;
    const runs = [];
    let run = [];
    for (const p of visible) {
      const prev = run[run.length - 1];
      if (prev && p[0] - prev[0] > this.gapMs) {
        runs.push(run);
        run = [];
      }
      run.push(p);
    }
    runs.push(run);
    const baseline = plot.y + plot.h;
    for (const r of runs) {
      ctx.beginPath();
      r.forEach(([ts, v], i) => (i === 0 ? ctx.moveTo(xOf(ts), yOf(v)) : ctx.lineTo(xOf(ts), yOf(v))));
      if (r.length === 1) ctx.lineTo(xOf(r[0][0]) + 1.5, yOf(r[0][1]));
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.lineJoin = "round";
      ctx.stroke();
      // Fills of three or more lines stack into a block: lines only then.
      if (this.series.length > 2) continue;
      ctx.lineTo(xOf(r[r.length - 1][0]), baseline);
      ctx.lineTo(xOf(r[0][0]), baseline);
      ctx.closePath();
      fillSoft(ctx, color, 0.12);
    }
    return visible.length;
  }

  /** The legend shows the latest values, or the values under the pointer. */
  drawHover(ctx, plot, from, xOf, yOf) {
    let at = null;
    if (this.hoverX !== null && this.hoverX >= plot.x) {
      at = from + ((this.hoverX - plot.x) / plot.w) * this.windowMs;
    }
    this.series.forEach((s, i) => {
      const point = at === null ? s.points[s.points.length - 1] : nearest(s.points, at);
      setText(this.legendValues[i], point ? this.format(point[1]) : "–");
      if (at !== null && point) {
        ctx.beginPath();
        ctx.arc(xOf(point[0]), yOf(point[1]), 3, 0, 2 * Math.PI);
        ctx.fillStyle = cssColor(s.color);
        ctx.fill();
      }
    });
    setText(this.legendTime, at === null ? "" : clock(at, true));
    if (at !== null) {
      ctx.strokeStyle = cssColor("--muted");
      ctx.beginPath();
      ctx.moveTo(Math.round(this.hoverX) + 0.5, plot.y);
      ctx.lineTo(Math.round(this.hoverX) + 0.5, plot.y + plot.h);
      ctx.stroke();
    }
  }
}

/** The point closest in time to `ts` (binary search over sorted points). */
function nearest(points, ts) {
  if (points.length === 0) return null;
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] < ts) lo = mid + 1;
    else hi = mid;
  }
  const before = points[Math.max(0, lo - 1)];
  const after = points[lo];
  return Math.abs(before[0] - ts) < Math.abs(after[0] - ts) ? before : after;
}
