// range.js — the host page's history range as the URL carries it: a
// preset that slides with the clock (`range=6h`) or a fixed span
// (`from=MS&to=MS`, Unix milliseconds, as `/api/series` takes them).
// Pure functions, no DOM: what the address asks for, and what is wrong
// with it when it cannot be read.

const MINUTE = 60e3;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The presets on offer, shortest first. */
export const PRESETS = [
  { key: "5m", label: "5 minutes", ms: 5 * MINUTE },
  { key: "1h", label: "hour", ms: HOUR },
  { key: "6h", label: "6 hours", ms: 6 * HOUR },
  { key: "24h", label: "24 hours", ms: DAY },
  { key: "7d", label: "7 days", ms: 7 * DAY },
  { key: "90d", label: "90 days", ms: 90 * DAY },
];

export const DEFAULT_PRESET = "1h";

/** The latest time `/api/series` accepts: the end of the year 9999. */
const MAX_MS = 253402300799999;

function millis(text) {
  if (!/^\d{1,15}$/.test(text)) return null;
  const ms = Number(text);
  return ms <= MAX_MS ? ms : null;
}

const ACCEPTED = `range=${PRESETS.map((p) => p.key).join(", ")}, or from=…&to=… in Unix milliseconds with from before to`;
const FALLBACK = "showing the last hour";

/**
 * The range `params` ask for: `{range, problem}`, `problem` a sentence
 * naming the value that could not be used (the range is then the default).
 */
export function parseRange(params) {
  const preset = params.get("range");
  const fromText = params.get("from");
  const toText = params.get("to");
  const fallback = (what) => ({
    range: { preset: DEFAULT_PRESET },
    problem: `The address asks for ${what}, which is not a range this page knows: ${FALLBACK}. Accepted: ${ACCEPTED}.`,
  });
  if (preset !== null) {
    if (fromText !== null || toText !== null) return fallback(`range=${preset} together with from/to`);
    return PRESETS.some((p) => p.key === preset) ? { range: { preset }, problem: null } : fallback(`range=${preset}`);
  }
  if (fromText === null && toText === null) return { range: { preset: DEFAULT_PRESET }, problem: null };
  if (fromText === null || toText === null) {
    return fallback(fromText === null ? `to=${toText} without from` : `from=${fromText} without to`);
  }
  const from = millis(fromText);
  const to = millis(toText);
  if (from === null) return fallback(`from=${fromText}`);
  if (to === null) return fallback(`to=${toText}`);
  if (from >= to) return fallback(`from=${fromText} not before to=${toText}`);
  return { range: { from, to }, problem: null };
}

/** The URL query for a range, the inverse of `parseRange`. */
export function rangeQuery(range) {
  return range.preset ? `range=${range.preset}` : `from=${Math.round(range.from)}&to=${Math.round(range.to)}`;
}
