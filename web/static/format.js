// format.js — numbers and times as the dashboard shows them. Pure
// functions: every one takes a value and returns a string, with "–" for a
// value that is missing.

const DASH = "–";

/** `12.5%`; one decimal keeps small changes visible in live values. */
export function percent(value) {
  if (!Number.isFinite(value)) return DASH;
  return `${value.toFixed(1)}%`;
}

/** Whole percent for tables where one decimal is noise: `61%`. */
export function percentWhole(value) {
  if (!Number.isFinite(value)) return DASH;
  return `${Math.round(value)}%`;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function scaled(value, base, units) {
  let unit = 0;
  let v = Math.abs(value);
  while (v >= base && unit < units.length - 1) {
    v /= base;
    unit += 1;
  }
  const digits = v >= 100 || unit === 0 ? 0 : v >= 10 ? 1 : 2;
  return `${(Math.sign(value) * v).toFixed(digits)} ${units[unit]}`;
}

/** A transfer rate in decimal units, as network tools print them: `1.23 MB/s`. */
export function rate(bytesPerSecond) {
  if (!Number.isFinite(bytesPerSecond)) return DASH;
  return `${scaled(bytesPerSecond, 1000, DECIMAL_UNITS)}/s`;
}

/** A size in binary units, as `free` and `df -h` print them: `23.5 GiB`. */
export function bytes(value) {
  if (!Number.isFinite(value)) return DASH;
  return scaled(value, 1024, BINARY_UNITS);
}

/** A load average: two decimals below 10, one above. */
export function load(value) {
  if (!Number.isFinite(value)) return DASH;
  return value.toFixed(value < 10 ? 2 : 1);
}

/** A count with thousands separators. */
export function count(value) {
  if (!Number.isFinite(value)) return DASH;
  return Math.round(value).toLocaleString("en-US");
}

/** A duration in the two largest units: `45s`, `3m 04s`, `2h 05m`, `3d 4h`. */
export function duration(ms) {
  if (!Number.isFinite(ms)) return DASH;
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long ago a sample was taken: `3s ago`. */
export function age(ms) {
  if (!Number.isFinite(ms)) return "never";
  return `${duration(ms)} ago`;
}

/** Wall-clock `HH:MM` for chart axes, in the viewer's time zone. */
export function clock(ts, withSeconds = false) {
  const d = new Date(ts);
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

/** Local `YYYY-MM-DD HH:MM:SS` (or without seconds), for range labels and the cursor. */
export function dateTime(ts, withSeconds = true) {
  const d = new Date(ts);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day} ${clock(ts, withSeconds)}`;
}

/** Local `MM-DD` for the time axis of ranges of days. */
export function monthDay(ts) {
  const d = new Date(ts);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
