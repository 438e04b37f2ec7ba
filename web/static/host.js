// host.js — one host's page (`#/host/NAME`): its metadata, alerts, history
// charts and tables of the latest per-core, filesystem, interface and disk
// values.
//
// Charts start from `GET /api/series` and are continued by the live
// `metrics` events of this host; events that arrive while the history is
// loading are kept and merged. After every new `snapshot` (a reconnect, or
// the stream fell behind) the history is fetched again, so a dropped link
// leaves no silent gap in the charts.
//
// The range is a preset that slides with the clock (`?range=6h`) or a fixed
// span (`?from=MS&to=MS`, from a drag across a chart or the custom fields),
// kept in the URL's hash so a link shows the same view. The server picks
// the tier from the range; rollup points bring their min–max band. A fixed
// span takes no live points: it shows what is stored.
//
// What runs on the host (processes, cgroups) is the pane of `activity.js`:
// live while the range slides, the tables kept at the end of a fixed span
// or at the time clicked on a chart otherwise.

import { ActivityPane } from "./activity.js";
import { getJson, labelQuery } from "./api.js";
import { AlertList } from "./alerts.js";
import { TimeChart } from "./chart.js";
import { el, setAttr, setClass, setStyle, setText, syncRows } from "./dom.js";
import * as fmt from "./format.js";
import { DEFAULT_PRESET, PRESETS, parseRange, rangeQuery } from "./range.js";

/** The charts of the page: which metrics feed each line. */
const CHARTS = [
  { id: "cpu", title: "CPU", max: 100, format: fmt.percentWhole, lines: [{ label: "used", color: "--cpu", metric: "cpu_usage_percent" }] },
  { id: "mem", title: "Memory", max: 100, format: fmt.percentWhole, lines: [{ label: "used", color: "--mem", metric: "memory_used_percent" }] },
  {
    id: "net",
    title: "Network",
    max: null,
    minTop: 1000,
    format: fmt.rate,
    lines: [
      { label: "receive", color: "--rx", metric: "network_receive_bytes_per_second", sumBy: "iface" },
      { label: "transmit", color: "--tx", metric: "network_transmit_bytes_per_second", sumBy: "iface" },
    ],
  },
  {
    id: "load",
    title: "Load average",
    max: null,
    minTop: 1,
    format: fmt.load,
    lines: [
      { label: "1m", color: "--load", metric: "load1" },
      { label: "5m", color: "--load5", metric: "load5" },
      { label: "15m", color: "--load15", metric: "load15" },
    ],
  },
];

/** A table whose rows are replaced by key; bar columns show a percentage bar. */
class Table {
  constructor(title, columns) {
    this.columns = columns;
    this.rows = new Map();
    this.body = el("tbody");
    this.empty = el("p", { class: "empty", text: "Nothing reported yet.", hidden: true });
    this.element = el(
      "section",
      { class: "panel table-panel" },
      el("h2", { text: title }),
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.cls ?? "", text: c.label })))),
        this.body,
      ),
      this.empty,
    );
  }

  /** `rows`: `[{key, cells: [...]}]`, a bar column's cell being a percentage. */
  update(rows) {
    syncRows(this.body, rows, this.rows, () => this.makeRow(), (tr, row) => this.fillRow(tr, row));
    this.empty.hidden = rows.length > 0;
  }

  makeRow() {
    const tr = el("tr");
    // `cells` is taken: rows already have a read-only `cells` property.
    tr.cells_ = this.columns.map((c) => {
      if (!c.bar) return el("td", { class: c.cls ?? "" });
      const fill = el("span", { class: "bar-fill" });
      const text = el("span", { class: "bar-text" });
      const td = el("td", { class: `bar-cell ${c.cls ?? ""}` }, el("span", { class: "bar" }, fill), text);
      td.fill = fill;
      td.text = text;
      return td;
    });
    tr.append(...tr.cells_);
    return tr;
  }

  fillRow(tr, row) {
    row.cells.forEach((value, i) => {
      const td = tr.cells_[i];
      if (!this.columns[i].bar) {
        setText(td, value);
        return;
      }
      const pct = Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0;
      setStyle(td.fill, "width", `${pct.toFixed(1)}%`);
      setClass(td.fill, "level-warn", value >= 80 && value < 90);
      setClass(td.fill, "level-crit", value >= 90);
      setText(td.text, fmt.percent(value));
    });
  }
}

const TIER_TEXT = {
  raw: "every sample",
  "1m": "1-minute averages, band: min–max",
  "1h": "1-hour averages, band: min–max",
};

/** `YYYY-MM-DDTHH:MM:SS` in local time, the value of a datetime-local input. */
function localInput(ts) {
  const d = new Date(ts);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Values of one metric keyed by a label, e.g. filesystem bytes by mount. */
function byLabel(host, metric, label) {
  const map = new Map();
  for (const v of host.metric(metric)) map.set(v.labels[label] ?? "", v);
  return map;
}

function naturalCompare(a, b) {
  return a.localeCompare(b, "en", { numeric: true });
}

export class HostView {
  /** `params`: the URL hash's query, which may hold the range. */
  constructor(fleet, name, schedule, params = new URLSearchParams()) {
    this.fleet = fleet;
    this.name = name;
    this.schedule = schedule;
    this.range = null;
    this.zoomStack = [];
    this.tier = null;
    this.chartsDirty = true;
    this.historyGeneration = 0;
    this.historyWanted = true;
    /** Labelled series (interfaces) the last history fetch covered. */
    this.fetchedSeries = undefined;
    this.rendered = false;
    this.alertsRendered = false;
    this.charts = new Map();
    this.element = this.build();
    this.applyUrlRange(params);
    this.unsubscribe = fleet.subscribe((kind, hostName, frame) => this.onEvent(kind, hostName, frame));
  }

  build() {
    this.dot = el("span", { class: "dot", "aria-hidden": "true" });
    this.age = el("span", { class: "host-age" });
    this.meta = el("p", { class: "host-meta" });
    this.notice = el("p", { class: "notice", hidden: true });
    this.stats = {
      cpu: this.statCard("CPU"),
      mem: this.statCard("Memory"),
      swap: this.statCard("Swap"),
      load: this.statCard("Load"),
      procs: this.statCard("Processes"),
      uptime: this.statCard("Uptime"),
    };
    this.alerts = new AlertList(this.fleet, { host: this.name, title: "Alerts", hideWhenEmpty: true });
    const charts = el("div", { class: "charts" });
    this.rangeButtons = PRESETS.map((p) =>
      el("button", {
        type: "button",
        text: p.key,
        title: `the last ${p.label}`,
        dataset: { range: p.key },
        onclick: () => this.setRange({ preset: p.key }),
      }),
    );
    this.zoomOut = el("button", {
      type: "button",
      class: "zoom-out",
      text: "⟲ Zoom out",
      title: "back to the range before the last zoom",
      onclick: () => this.back(),
    });
    this.fromInput = el("input", { type: "datetime-local", step: "1", "aria-label": "From" });
    this.toInput = el("input", { type: "datetime-local", step: "1", "aria-label": "To" });
    this.custom = el(
      "form",
      {
        class: "custom-range",
        onsubmit: (e) => {
          e.preventDefault();
          this.applyCustom();
        },
      },
      el("label", {}, "From ", this.fromInput),
      el("label", {}, "To ", this.toInput),
      el("button", { type: "submit", text: "Show" }),
    );
    this.rangeLabel = el("span", { class: "range-label" });
    this.rangeNote = el("p", { class: "notice range-note", role: "status", hidden: true });
    for (const spec of CHARTS) {
      const chart = new TimeChart({
        title: spec.title,
        series: spec.lines.map((l) => ({ label: l.label, color: l.color })),
        format: spec.format,
        max: spec.max,
        minTop: spec.minTop,
        onHover: (ts) => this.hover(ts),
        onZoom: (from, to) => this.zoom(from, to),
        onPick: (ts) => this.activity.showAt(ts),
      });
      chart.element.dataset.chart = spec.id;
      this.charts.set(spec.id, { spec, chart });
      charts.append(chart.element);
    }
    this.historyStatus = el("p", { class: "history-status" });
    this.activity = new ActivityPane(this.fleet, this.name, this.schedule);
    this.cores = new Table("CPU cores", [
      { label: "Core", cls: "key" },
      { label: "Usage", bar: true },
    ]);
    this.filesystems = new Table("Filesystems", [
      { label: "Mount", cls: "key" },
      { label: "Type" },
      { label: "Used", bar: true },
      { label: "Used", cls: "num" },
      { label: "Size", cls: "num" },
    ]);
    this.interfaces = new Table("Network interfaces", [
      { label: "Interface", cls: "key" },
      { label: "Receive", cls: "num" },
      { label: "Transmit", cls: "num" },
    ]);
    this.disks = new Table("Disks", [
      { label: "Device", cls: "key" },
      { label: "Read", cls: "num" },
      { label: "Write", cls: "num" },
    ]);
    return el(
      "section",
      { class: "view view-host", dataset: { host: this.name } },
      el("a", { class: "back", href: "#/" }, "← Fleet"),
      el(
        "header",
        { class: "host-header" },
        el("h2", { class: "host-title" }, this.dot, el("span", { class: "host-name", text: this.name })),
        this.age,
      ),
      this.meta,
      this.notice,
      el("div", { class: "stat-cards" }, Object.values(this.stats).map((s) => s.element)),
      this.alerts.element,
      this.rangeNote,
      el(
        "div",
        { class: "range-bar" },
        el("div", { class: "segmented range", role: "group", "aria-label": "Chart range" }, this.rangeButtons),
        this.zoomOut,
        this.custom,
        this.rangeLabel,
      ),
      charts,
      this.historyStatus,
      this.activity.element,
      el(
        "div",
        { class: "tables" },
        this.cores.element,
        this.filesystems.element,
        this.interfaces.element,
        this.disks.element,
      ),
    );
  }

  /** Applies the range of the URL, or the default with a note saying what was wrong. */
  applyUrlRange(params) {
    const { range, problem } = parseRange(params);
    this.rangeNote.hidden = problem === null;
    setText(this.rangeNote, problem ?? "");
    this.setRange(range, { remember: false, replaceUrl: problem !== null });
  }

  /**
   * Shows `range` ({preset} or {from, to}) on every chart and fetches its
   * history. `remember` keeps the current range for "Zoom out".
   */
  setRange(range, { remember = true, replaceUrl = true } = {}) {
    if (remember && this.range) this.zoomStack.push(this.range);
    this.range = range;
    for (const button of this.rangeButtons) {
      setAttr(button, "aria-pressed", String(button.dataset.range === range.preset));
    }
    this.zoomOut.disabled = this.zoomStack.length === 0 && range.preset === DEFAULT_PRESET;
    const [from, to] = this.span();
    this.fromInput.value = localInput(from);
    this.toInput.value = localInput(to);
    if (replaceUrl) {
      const url = new URL(window.location.href);
      url.hash = `#/host/${encodeURIComponent(this.name)}?${rangeQuery(range)}`;
      window.history.replaceState(null, "", url);
    }
    for (const { chart } of this.charts.values()) chart.clear();
    this.historyWanted = true;
    this.chartsDirty = true;
    this.updateRangeLabel();
    this.activity.followRange(range);
    this.schedule();
  }

  /** The range shown now as [from, to] in Unix ms. */
  span() {
    if (this.range.preset) {
      const now = this.fleet.now();
      return [now - PRESETS.find((p) => p.key === this.range.preset).ms, now];
    }
    return [this.range.from, this.range.to];
  }

  /** A drag across a chart: every chart shows that span. */
  zoom(from, to) {
    this.rangeNote.hidden = true;
    this.setRange({ from, to });
  }

  /** Back to the range before the last zoom, or the default. */
  back() {
    this.rangeNote.hidden = true;
    const previous = this.zoomStack.pop() ?? { preset: DEFAULT_PRESET };
    this.setRange(previous, { remember: false });
  }

  applyCustom() {
    const from = new Date(this.fromInput.value).getTime();
    const to = new Date(this.toInput.value).getTime();
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      this.rangeNote.hidden = false;
      setText(this.rangeNote, `The custom range needs a From before its To (got “${this.fromInput.value || "nothing"}” to “${this.toInput.value || "nothing"}”).`);
      return;
    }
    this.rangeNote.hidden = true;
    this.setRange({ from, to });
  }

  updateRangeLabel() {
    const [from, to] = this.span();
    const preset = PRESETS.find((p) => p.key === this.range.preset);
    const where = preset ? `the last ${preset.label}` : `${fmt.dateTime(from)} → ${fmt.dateTime(to)} (${fmt.duration(to - from)})`;
    const tier = this.tier ? ` · ${TIER_TEXT[this.tier] ?? this.tier}` : "";
    setText(this.rangeLabel, `${where}${tier}`);
    this.rangeLabel.dataset.from = String(Math.round(from));
    this.rangeLabel.dataset.to = String(Math.round(to));
  }

  /** The shared cursor: every chart shows the time and values under it. */
  hover(ts) {
    for (const { chart } of this.charts.values()) chart.setHover(ts);
    this.chartsDirty = true;
    this.schedule();
  }

  statCard(label) {
    const value = el("span", { class: "card-value", text: "–" });
    const sub = el("span", { class: "card-sub" });
    return { value, sub, element: el("div", { class: "card" }, el("span", { class: "card-label", text: label }), value, sub) };
  }

  destroy() {
    this.unsubscribe();
    this.historyGeneration += 1;
    this.activity.destroy();
  }

  onEvent(kind, hostName, frame) {
    if (kind === "snapshot") {
      this.historyWanted = true;
      this.chartsDirty = true;
    } else if (kind === "metrics" && hostName === this.name && this.range.preset) {
      this.appendLive(frame);
      this.chartsDirty = true;
    }
  }

  /** Adds the chart values of one `metrics` event. */
  appendLive(frame) {
    if (!Array.isArray(frame.values)) return;
    for (const { spec, chart } of this.charts.values()) {
      spec.lines.forEach((line, i) => {
        let sum = null;
        for (const v of frame.values) {
          if (v?.name !== line.metric || !Number.isFinite(v.value)) continue;
          sum = line.sumBy ? (sum ?? 0) + v.value : v.value;
        }
        if (sum !== null) chart.append(i, frame.ts, sum);
      });
    }
  }

  /** The label sets of a summed line, e.g. one per network interface. */
  labelSets(host, line) {
    if (!line.sumBy) return [{}];
    if (!host) return [];
    return [...byLabel(host, line.metric, line.sumBy).values()].map((v) => v.labels);
  }

  /** How many labelled series the summed lines have; more than at the last fetch means refetch. */
  summedSeries(host) {
    let n = 0;
    for (const { spec } of this.charts.values()) {
      for (const line of spec.lines) if (line.sumBy) n += this.labelSets(host, line).length;
    }
    return n;
  }

  /** Fetches the range of every chart line; newer requests supersede older ones. */
  async loadHistory(host) {
    this.historyWanted = false;
    this.fetchedSeries = this.summedSeries(host);
    const generation = ++this.historyGeneration;
    const [from, to] = this.span().map(Math.round);
    setText(this.historyStatus, "Loading history…");
    // Each line stands alone: a metric this host never sent (a machine
    // without load15, say) must not take the other charts down with it.
    const jobs = [];
    for (const { spec, chart } of this.charts.values()) {
      spec.lines.forEach((line, i) => {
        const labelSets = this.labelSets(host, line);
        const name = `${spec.title} ${line.label}`;
        jobs.push(
          this.fetchLine(line.metric, labelSets, from, to).then(
            (points) => ({ chart, i, points }),
            (error) => ({ name, error }),
          ),
        );
      });
    }
    const results = await Promise.all(jobs);
    if (generation !== this.historyGeneration) return;
    const loaded = results.filter((r) => !r.error);
    const failed = results.filter((r) => r.error);
    for (const { chart, i, points } of loaded) chart.setHistory(i, points.points);
    this.tier = loaded.find((r) => r.points.tier)?.points.tier ?? null;
    this.historyStepMs = Math.max(0, ...loaded.map((r) => r.points.stepMs));
    this.updateRangeLabel();
    const stored = loaded.reduce((n, r) => n + r.points.points.length, 0);
    if (loaded.length === 0 && failed.length > 0) {
      setText(this.historyStatus, `History unavailable (${failed[0].error.message}); showing live values only.`);
    } else if (failed.length > 0) {
      setText(this.historyStatus, `No stored history for ${failed.map((f) => f.name).join(", ")}.`);
    } else {
      setText(this.historyStatus, stored === 0 ? "Nothing stored for this range." : "");
    }
    this.chartsDirty = true;
    this.schedule();
  }

  /**
   * One metric's points over [from, to] as `[ts, value, min, max]`, summed
   * across label sets by timestamp (the band of a sum is the sum of the
   * bands: an outer bound), with the tier and step the server chose.
   */
  async fetchLine(metric, labelSets, from, to) {
    const answers = await Promise.all(
      labelSets.map((labels) => getJson("series", { host: this.name, metric, labels: labelQuery(labels), from, to })),
    );
    const sums = new Map();
    for (const answer of answers) {
      for (const p of Array.isArray(answer.points) ? answer.points : []) {
        if (!Number.isFinite(p.ts) || !Number.isFinite(p.value)) continue;
        const lo = Number.isFinite(p.min) ? p.min : p.value;
        const hi = Number.isFinite(p.max) ? p.max : p.value;
        const sum = sums.get(p.ts) ?? [p.ts, 0, 0, 0];
        sum[1] += p.value;
        sum[2] += lo;
        sum[3] += hi;
        sums.set(p.ts, sum);
      }
    }
    const first = answers[0] ?? {};
    return {
      points: [...sums.values()].sort((a, b) => a[0] - b[0]),
      tier: typeof first.tier === "string" ? first.tier : null,
      stepMs: Number.isFinite(first.step_ms) ? first.step_ms : 0,
    };
  }

  render(changes) {
    const host = this.fleet.hosts.get(this.name);
    const known = this.fleet.snapshots > 0;
    // The first report has no rates, so interfaces may show up after the
    // first fetch: fetch again to get their history too.
    if (host && this.fetchedSeries !== undefined && this.summedSeries(host) > this.fetchedSeries) {
      this.historyWanted = true;
    }
    if (this.historyWanted && (host || known)) this.loadHistory(host);
    this.notice.hidden = !known || Boolean(host);
    setText(this.notice, `No live host named “${this.name}”: it has not reported for an hour, or never did. Stored history is shown if there is any.`);
    if (host && (changes.hosts.has(this.name) || changes.snapshot || !this.rendered)) {
      this.rendered = true;
      this.updateDetails(host);
    }
    if (changes.alerts || changes.snapshot || !this.alertsRendered) {
      this.alertsRendered = true;
      this.alerts.render();
    }
    this.activity.render(changes);
    if (this.chartsDirty) this.drawCharts();
  }

  drawCharts() {
    this.chartsDirty = false;
    const host = this.fleet.hosts.get(this.name);
    // A line breaks where three intervals (or three points of the tier) pass without a point.
    const gap = 3 * Math.max(host ? host.intervalMs() : 5000, this.historyStepMs ?? 0);
    const [from, to] = this.span();
    for (const { chart } of this.charts.values()) {
      chart.setGap(Math.max(gap, 5000));
      if (this.range.preset) chart.trimBefore(from - 60e3);
      chart.draw(from, to);
    }
  }

  /** Slides a preset's window and ticks the age; called every second. */
  tick() {
    const host = this.fleet.hosts.get(this.name);
    if (host) this.updateAge(host);
    this.alerts.tick();
    this.activity.tick();
    if (this.range.preset) {
      this.updateRangeLabel();
      this.drawCharts();
    }
  }

  updateAge(host) {
    const stale = this.fleet.isStale(host);
    setText(this.age, `last sample ${fmt.age(this.fleet.ageMs(host))}`);
    setClass(this.element, "stale", stale);
  }

  updateDetails(host) {
    const m = host.meta;
    const uptime = host.value("uptime_seconds");
    setText(
      this.meta,
      m
        ? [m.os, m.kernel && `kernel ${m.kernel}`, m.cores && `${m.cores} cores`, m.memoryBytes && `${fmt.bytes(m.memoryBytes)} memory`, m.agentVersion && `agent ${m.agentVersion}`, m.intervalMs && `every ${fmt.duration(m.intervalMs)}`]
            .filter(Boolean)
            .join(" · ")
        : "The agent has not introduced itself yet.",
    );
    this.updateAge(host);
    this.updateStats(host, uptime);
    this.updateTables(host);
  }

  updateStats(host, uptime) {
    const s = this.stats;
    const cpu = host.value("cpu_usage_percent");
    setText(s.cpu.value, fmt.percent(cpu));
    setText(s.cpu.sub, host.meta?.cores ? `${host.meta.cores} cores` : "");
    setText(s.mem.value, fmt.percent(host.value("memory_used_percent")));
    const memTotal = host.value("memory_total_bytes");
    setText(s.mem.sub, memTotal ? `${fmt.bytes(host.value("memory_used_bytes") ?? NaN)} of ${fmt.bytes(memTotal)}` : "");
    const swapTotal = host.value("swap_total_bytes");
    const swapUsed = host.value("swap_used_bytes");
    setText(s.swap.value, swapTotal > 0 ? fmt.percent((100 * swapUsed) / swapTotal) : "none");
    setText(s.swap.sub, swapTotal > 0 ? `${fmt.bytes(swapUsed)} of ${fmt.bytes(swapTotal)}` : "");
    setText(s.load.value, fmt.load(host.value("load1") ?? NaN));
    const load5 = host.value("load5");
    const load15 = host.value("load15");
    setText(s.load.sub, load5 === null ? "" : `5m ${fmt.load(load5)} · 15m ${fmt.load(load15 ?? NaN)}`);
    setText(s.procs.value, fmt.count(host.value("processes") ?? NaN));
    setText(s.uptime.value, uptime === null ? "–" : fmt.duration(uptime * 1000));
  }

  updateTables(host) {
    this.cores.update(
      host
        .metric("cpu_core_usage_percent")
        .sort((a, b) => naturalCompare(a.labels.core ?? "", b.labels.core ?? ""))
        .map((v) => ({ key: v.labels.core ?? "", cells: [v.labels.core ?? "", v.value] })),
    );
    const size = byLabel(host, "filesystem_size_bytes", "mount");
    const used = byLabel(host, "filesystem_used_bytes", "mount");
    this.filesystems.update(
      host
        .metric("filesystem_used_percent")
        .sort((a, b) => naturalCompare(a.labels.mount ?? "", b.labels.mount ?? ""))
        .map((v) => {
          const mount = v.labels.mount ?? "";
          return {
            key: mount,
            cells: [mount, v.labels.fstype ?? "", v.value, fmt.bytes(used.get(mount)?.value ?? NaN), fmt.bytes(size.get(mount)?.value ?? NaN)],
          };
        }),
    );
    const tx = byLabel(host, "network_transmit_bytes_per_second", "iface");
    this.interfaces.update(
      [...byLabel(host, "network_receive_bytes_per_second", "iface").entries()]
        .sort((a, b) => naturalCompare(a[0], b[0]))
        .map(([iface, rx]) => ({ key: iface, cells: [iface, fmt.rate(rx.value), fmt.rate(tx.get(iface)?.value ?? NaN)] })),
    );
    const written = byLabel(host, "disk_written_bytes_per_second", "device");
    this.disks.update(
      [...byLabel(host, "disk_read_bytes_per_second", "device").entries()]
        .sort((a, b) => naturalCompare(a[0], b[0]))
        .map(([device, read]) => ({ key: device, cells: [device, fmt.rate(read.value), fmt.rate(written.get(device)?.value ?? NaN)] })),
    );
  }
}
