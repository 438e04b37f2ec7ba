// store.js — the fleet as the dashboard knows it, built from WebSocket
// frames: `snapshot` replaces everything, `metrics` and `alert` events are
// applied on top.
//
// The store never touches the DOM. It records what changed since the views
// last looked (`takeChanges`), so a frame costs a few Map writes and the
// views redraw only the hosts that moved, once per animation frame.
// Every field of a frame is checked before use: the server is trusted to
// speak the protocol, but a bad frame must not break the page.
//
// `processes` and `cgroups` frames come only for the host the page watches
// (one at a time); the store keeps the latest of each for that host alone.

/** Sparkline length: this many most recent samples per host. */
export const SPARK_POINTS = 90;

/** A host is stale when its last sample is older than this many intervals. */
const STALE_INTERVALS = 3;
const DEFAULT_INTERVAL_MS = 5000;

const SEVERITY_RANK = { critical: 3, error: 3, warning: 2, info: 1 };

/** A fixed-size ring of recent values, oldest first when read. */
class Ring {
  constructor(size) {
    this.values = new Float64Array(size);
    this.start = 0;
    this.length = 0;
  }

  push(value) {
    const size = this.values.length;
    this.values[(this.start + this.length) % size] = value;
    if (this.length < size) this.length += 1;
    else this.start = (this.start + 1) % size;
  }

  forEach(fn) {
    const size = this.values.length;
    for (let i = 0; i < this.length; i += 1) fn(this.values[(this.start + i) % size], i);
  }
}

/** The key of one series within a host: its name and sorted labels. */
export function seriesKey(name, labels) {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}=${labels[k]}`).join(",")}}`;
}

function cleanLabels(raw) {
  const labels = {};
  if (raw && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw)) labels[String(k)] = String(v);
  }
  return labels;
}

function cleanMeta(raw) {
  if (!raw || typeof raw !== "object") return null;
  const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : null);
  const str = (v) => (typeof v === "string" ? v : "");
  return {
    os: str(raw.os),
    kernel: str(raw.kernel),
    cores: num(raw.cores),
    memoryBytes: num(raw.memory_bytes),
    agentVersion: str(raw.agent_version),
    intervalMs: num(raw.interval_ms),
  };
}

const str = (v) => (typeof v === "string" ? v : "");
/** A figure of a table row, NaN when missing (shown as "–", sorted last). */
const figure = (v) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

function cleanProcess(raw) {
  if (!raw || typeof raw !== "object" || !Number.isInteger(raw.pid)) return null;
  return {
    pid: raw.pid,
    name: str(raw.name),
    command: str(raw.command),
    user: str(raw.user),
    cpu: figure(raw.cpu_percent),
    memory: figure(raw.memory_bytes),
    read: figure(raw.read_bytes_per_second),
    write: figure(raw.write_bytes_per_second),
  };
}

function cleanCgroup(raw) {
  if (!raw || typeof raw !== "object" || typeof raw.path !== "string") return null;
  return {
    path: raw.path,
    name: str(raw.name) || raw.path,
    kind: str(raw.kind) || "other",
    cpu: figure(raw.cpu_percent),
    memory: figure(raw.memory_bytes),
    peak: figure(raw.memory_peak_bytes),
    read: figure(raw.read_bytes_per_second),
    write: figure(raw.write_bytes_per_second),
    pids: figure(raw.pids),
  };
}

/**
 * A `processes` frame or an answer of `/api/hosts/{host}/processes` as
 * `{ts, total, rows}`, or null when it has no time. Rows without a pid are
 * dropped; a pid appears once.
 */
export function processTable(raw) {
  if (!raw || typeof raw !== "object" || !Number.isFinite(raw.ts)) return null;
  const rows = new Map();
  for (const r of Array.isArray(raw.processes) ? raw.processes : []) {
    const row = cleanProcess(r);
    if (row) rows.set(row.pid, row);
  }
  return { ts: raw.ts, total: Number.isFinite(raw.total) ? raw.total : rows.size, rows: [...rows.values()] };
}

/** A `cgroups` frame or API answer as `{ts, total, rows, unavailable}` (a reason or null). */
export function cgroupTable(raw) {
  if (!raw || typeof raw !== "object" || !Number.isFinite(raw.ts)) return null;
  const rows = new Map();
  for (const r of Array.isArray(raw.cgroups) ? raw.cgroups : []) {
    const row = cleanCgroup(r);
    if (row) rows.set(row.path, row);
  }
  return {
    ts: raw.ts,
    total: Number.isFinite(raw.total) ? raw.total : rows.size,
    rows: [...rows.values()],
    unavailable: typeof raw.unavailable === "string" && raw.unavailable !== "" ? raw.unavailable : null,
  };
}

class Host {
  constructor(name) {
    this.name = name;
    this.lastSeen = 0;
    this.meta = null;
    /** seriesKey → {name, labels, value} */
    this.values = new Map();
    this.cpuSpark = new Ring(SPARK_POINTS);
    this.memSpark = new Ring(SPARK_POINTS);
    this.summary = summarize(this.values);
  }

  /** Writes the values of a frame; returns nothing, the caller re-summarizes. */
  setValues(rawValues) {
    if (!Array.isArray(rawValues)) return;
    for (const raw of rawValues) {
      if (!raw || typeof raw.name !== "string") continue;
      const value = Number(raw.value);
      if (!Number.isFinite(value)) continue;
      const labels = cleanLabels(raw.labels);
      this.values.set(seriesKey(raw.name, labels), { name: raw.name, labels, value });
    }
  }

  intervalMs() {
    return this.meta?.intervalMs > 0 ? this.meta.intervalMs : DEFAULT_INTERVAL_MS;
  }

  /** The values of one metric, e.g. every `filesystem_used_percent`. */
  metric(name) {
    const found = [];
    for (const v of this.values.values()) if (v.name === name) found.push(v);
    return found;
  }

  /** The value of an unlabelled metric, or `null`. */
  value(name) {
    return this.values.get(name)?.value ?? null;
  }
}

/** The headline numbers of a host, computed once per frame that touches it. */
function summarize(values) {
  const s = { cpu: null, mem: null, fs: null, fsMount: "", rx: null, tx: null, load1: null };
  for (const v of values.values()) {
    switch (v.name) {
      case "cpu_usage_percent":
        s.cpu = v.value;
        break;
      case "memory_used_percent":
        s.mem = v.value;
        break;
      case "load1":
        s.load1 = v.value;
        break;
      case "filesystem_used_percent":
        if (s.fs === null || v.value > s.fs) {
          s.fs = v.value;
          s.fsMount = v.labels.mount ?? "";
        }
        break;
      case "network_receive_bytes_per_second":
        s.rx = (s.rx ?? 0) + v.value;
        break;
      case "network_transmit_bytes_per_second":
        s.tx = (s.tx ?? 0) + v.value;
        break;
      default:
        break;
    }
  }
  return s;
}

export class Fleet {
  constructor() {
    /** host name → Host */
    this.hosts = new Map();
    /** alert id → alert object as sent by the server */
    this.alerts = new Map();
    /** host name → {count, severity} of its active alerts */
    this.alertsByHost = new Map();
    /** Server clock minus ours, so ages do not depend on the viewer's clock. */
    this.skewMs = 0;
    this.snapshots = 0;
    /** The watched host and its latest tables, each `null` until one comes. */
    this.activity = { host: null, processes: null, cgroups: null };
    this.listeners = new Set();
    this.resetChanges();
  }

  resetChanges() {
    this.changes = { hosts: new Set(), membership: false, alerts: false, snapshot: false, activity: false };
  }

  /** What changed since the last call; the views apply it in one frame. */
  takeChanges() {
    const changes = this.changes;
    this.resetChanges();
    return changes;
  }

  /** Called with (kind, host name, frame) after each applied event. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  now() {
    return Date.now() + this.skewMs;
  }

  /** Milliseconds since the host's last sample, on the server's clock. */
  ageMs(host) {
    return host.lastSeen > 0 ? Math.max(0, this.now() - host.lastSeen) : Infinity;
  }

  isStale(host) {
    return this.ageMs(host) > STALE_INTERVALS * host.intervalMs();
  }

  /** Replaces the whole state. Sparkline history of hosts that stay is kept. */
  applySnapshot(frame) {
    if (Number.isFinite(frame.ts)) this.skewMs = frame.ts - Date.now();
    const previous = this.hosts;
    this.hosts = new Map();
    for (const raw of Array.isArray(frame.hosts) ? frame.hosts : []) {
      if (!raw || typeof raw.host !== "string") continue;
      const old = previous.get(raw.host);
      const host = new Host(raw.host);
      if (old) {
        host.cpuSpark = old.cpuSpark;
        host.memSpark = old.memSpark;
      }
      host.lastSeen = Number(raw.last_seen_ms) || 0;
      host.meta = cleanMeta(raw.meta);
      host.setValues(raw.values);
      host.summary = summarize(host.values);
      if (!old || old.lastSeen !== host.lastSeen) this.pushSparks(host);
      this.hosts.set(host.name, host);
    }
    this.alerts = new Map();
    for (const alert of Array.isArray(frame.alerts) ? frame.alerts : []) {
      if (alert && typeof alert.id === "string") this.alerts.set(alert.id, alert);
    }
    this.indexAlerts();
    this.snapshots += 1;
    this.changes = { hosts: new Set(this.hosts.keys()), membership: true, alerts: true, snapshot: true, activity: false };
    this.emit("snapshot", null, frame);
  }

  /** Applies a `metrics` event; one older than the host's newest is ignored. */
  applyMetrics(frame) {
    if (typeof frame.host !== "string" || !Number.isFinite(frame.ts)) return;
    let host = this.hosts.get(frame.host);
    if (!host) {
      host = new Host(frame.host);
      this.hosts.set(frame.host, host);
      this.changes.membership = true;
    }
    if (frame.ts < host.lastSeen) return;
    host.lastSeen = frame.ts;
    host.setValues(frame.values);
    host.summary = summarize(host.values);
    this.pushSparks(host);
    this.changes.hosts.add(host.name);
    this.emit("metrics", host.name, frame);
  }

  /** Applies an `alert` event: pending and firing are active, others leave. */
  applyAlert(frame) {
    if (typeof frame.id !== "string") return;
    if (frame.state === "pending" || frame.state === "firing") this.alerts.set(frame.id, frame);
    else this.alerts.delete(frame.id);
    const before = new Map(this.alertsByHost);
    this.indexAlerts();
    for (const name of new Set([...before.keys(), ...this.alertsByHost.keys()])) {
      this.changes.hosts.add(name);
    }
    this.changes.alerts = true;
    this.emit("alert", typeof frame.host === "string" ? frame.host : null, frame);
  }

  /**
   * Applies a `host` event, sent at every agent hello: a host's metadata
   * (OS, cores, interval) is learned, or updated after an agent upgrade.
   */
  applyHost(frame) {
    if (typeof frame.host !== "string") return;
    const meta = cleanMeta(frame.meta);
    if (!meta) return;
    let host = this.hosts.get(frame.host);
    if (!host) {
      host = new Host(frame.host);
      this.hosts.set(frame.host, host);
      this.changes.membership = true;
    }
    host.meta = meta;
    this.changes.hosts.add(host.name);
    this.emit("host", host.name, frame);
  }

  /**
   * Keeps the tables of `host` (null: of none) from now on. The tables of a
   * host watched before are forgotten: they would be shown as this one's.
   */
  watch(host) {
    if (this.activity.host === host) return;
    this.activity = { host, processes: null, cgroups: null };
    this.changes.activity = true;
  }

  /**
   * Applies a `processes` or `cgroups` frame of the watched host; a frame
   * of another host (watched before, still in flight) or one older than the
   * table held is ignored.
   */
  applyActivity(frame) {
    if (frame.host !== this.activity.host || this.activity.host === null) return;
    const key = frame.type === "processes" ? "processes" : "cgroups";
    const table = key === "processes" ? processTable(frame) : cgroupTable(frame);
    if (!table) return;
    const held = this.activity[key];
    if (held && table.ts < held.ts) return;
    this.activity[key] = table;
    this.changes.activity = true;
    this.emit(key, frame.host, frame);
  }

  /** True when some host's agent `hello` (OS, cores, interval) is unknown here. */
  lacksMeta() {
    for (const host of this.hosts.values()) if (!host.meta) return true;
    return false;
  }

  /**
   * Takes metadata from `/api/hosts` answers for hosts that lack it: a
   * fallback for hosts whose `host` event this page never saw. Returns how
   * many hosts were filled in.
   */
  applyMeta(list) {
    let filled = 0;
    for (const raw of Array.isArray(list) ? list : []) {
      const host = this.hosts.get(raw?.host);
      const meta = cleanMeta(raw?.meta);
      if (host && !host.meta && meta) {
        host.meta = meta;
        this.changes.hosts.add(host.name);
        filled += 1;
      }
    }
    return filled;
  }

  pushSparks(host) {
    if (host.summary.cpu !== null) host.cpuSpark.push(host.summary.cpu);
    if (host.summary.mem !== null) host.memSpark.push(host.summary.mem);
  }

  indexAlerts() {
    this.alertsByHost = new Map();
    for (const alert of this.alerts.values()) {
      if (typeof alert.host !== "string") continue;
      const entry = this.alertsByHost.get(alert.host) ?? { count: 0, severity: "", firing: false };
      entry.count += 1;
      entry.firing ||= alert.state === "firing";
      if ((SEVERITY_RANK[alert.severity] ?? 0) > (SEVERITY_RANK[entry.severity] ?? 0)) {
        entry.severity = String(alert.severity);
      }
      this.alertsByHost.set(alert.host, entry);
    }
  }

  /** Active alerts, the most urgent first: firing before pending, by severity, oldest first. */
  sortedAlerts(host = null) {
    const list = [...this.alerts.values()].filter((a) => host === null || a.host === host);
    const urgency = (a) => (a.state === "firing" ? 10 : 0) + (SEVERITY_RANK[a.severity] ?? 0);
    return list.sort(
      (a, b) => urgency(b) - urgency(a) || (a.active_since_ms ?? 0) - (b.active_since_ms ?? 0),
    );
  }

  emit(kind, hostName, frame) {
    for (const listener of this.listeners) listener(kind, hostName, frame);
  }
}
