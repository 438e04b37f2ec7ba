// fleet.js — the fleet grid: one tile per host with its live numbers,
// CPU and memory sparklines, age of the last sample and alert badge;
// filtered and sorted from the toolbar. The same tiles show as cards or,
// for a large fleet, as dense rows (a CSS layout, remembered per browser).
//
// Built for a thousand hosts: a frame touches only the tiles of hosts that
// changed, a cell is written only when its text changes, and tiles outside
// the viewport (tracked with an IntersectionObserver) skip their canvas
// work until they scroll in. Sorting by a live value re-orders the grid at
// most every two seconds so tiles do not jump under the pointer.
//
// Rows add a meter (a bar coloured by the same thresholds as the figure,
// and as `mon top`'s fleet table) to CPU, memory and disk, and the host
// column is as wide as the longest name shown.

import { el, setAttr, setClass, setStyle, setText } from "./dom.js";
import { drawSparkline } from "./chart.js";
import * as fmt from "./format.js";

const LIVE_RESORT_MS = 2000;
const LAYOUT_KEY = "mon.fleetLayout";

/** Sort keys: how each orders two hosts (ascending). */
const SORTS = {
  name: { label: "Name", key: (h) => h.name, live: false },
  cpu: { label: "CPU", key: (h) => h.summary.cpu ?? -1, live: true },
  mem: { label: "Memory", key: (h) => h.summary.mem ?? -1, live: true },
  fs: { label: "Disk", key: (h) => h.summary.fs ?? -1, live: true },
  net: { label: "Network", key: (h) => (h.summary.rx ?? 0) + (h.summary.tx ?? 0), live: true },
  load: { label: "Load", key: (h) => h.summary.load1 ?? -1, live: true },
  alerts: { label: "Alerts", key: (h, fleet) => fleet.alertsByHost.get(h.name)?.count ?? 0, live: false },
  age: { label: "Last sample", key: (h, fleet) => fleet.ageMs(h), live: true },
};

function savedLayout() {
  try {
    return localStorage.getItem(LAYOUT_KEY) === "rows" ? "rows" : "cards";
  } catch {
    return "cards";
  }
}

/** `warn` / `crit` from thresholds, for colouring a value. */
function level(value, warn, crit) {
  if (!Number.isFinite(value)) return "";
  if (value >= crit) return "crit";
  if (value >= warn) return "warn";
  return "";
}

function setLevel(node, value, warn, crit) {
  const l = level(value, warn, crit);
  setClass(node, "level-warn", l === "warn");
  setClass(node, "level-crit", l === "crit");
}

/** Warning and critical thresholds, the same as `mon top`'s (`tui/src/view/mod.rs`). */
const LEVELS = { cpu: [75, 90], mem: [80, 92], fs: [80, 90] };

function meter() {
  const fill = el("span", { class: "meter-fill" });
  return { root: el("span", { class: "meter", "aria-hidden": "true" }, fill), fill };
}

/** Fills a meter to `value` percent, coloured like the figure beside it. */
function setMeter(m, value, [warn, crit]) {
  const pct = Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0;
  setStyle(m.fill, "width", `${pct.toFixed(1)}%`);
  setLevel(m.fill, value, warn, crit);
}

export class FleetView {
  /** `schedule()` asks the app for a render on the next animation frame. */
  constructor(fleet, schedule) {
    this.fleet = fleet;
    this.schedule = schedule;
    this.tiles = new Map();
    this.order = [];
    this.filter = "";
    this.sort = "name";
    this.descending = false;
    this.lastSort = 0;
    this.layoutDirty = true;
    this.observer = new IntersectionObserver((entries) => this.onVisibility(entries), {
      rootMargin: "200px",
    });
    this.element = this.build();
  }

  build() {
    this.filterInput = el("input", {
      type: "search",
      class: "filter",
      placeholder: "Filter hosts (press /)",
      "aria-label": "Filter hosts by name",
      spellcheck: "false",
      oninput: () => {
        this.filter = this.filterInput.value.trim().toLowerCase();
        this.layoutDirty = true;
        this.schedule();
      },
    });
    this.sortSelect = el(
      "select",
      {
        class: "sort",
        "aria-label": "Sort hosts by",
        onchange: () => {
          this.sort = this.sortSelect.value;
          this.descending = SORTS[this.sort].live || this.sort === "alerts";
          this.updateOrderButton();
          this.layoutDirty = true;
          this.schedule();
        },
      },
      Object.entries(SORTS).map(([value, s]) => el("option", { value, text: s.label })),
    );
    this.orderButton = el("button", {
      type: "button",
      class: "order",
      onclick: () => {
        this.descending = !this.descending;
        this.updateOrderButton();
        this.layoutDirty = true;
        this.schedule();
      },
    });
    this.updateOrderButton();
    this.layoutButtons = ["cards", "rows"].map((layout) =>
      el("button", {
        type: "button",
        text: layout === "cards" ? "Cards" : "Rows",
        dataset: { layout },
        onclick: () => this.setLayout(layout),
      }),
    );
    this.summary = el("span", { class: "summary" });
    this.grid = el("div", { class: "grid", role: "list" });
    this.empty = el("p", { class: "empty", hidden: true });
    const head = (text) => el("span", { text });
    const root = el(
      "section",
      { class: "view view-fleet" },
      el(
        "div",
        { class: "toolbar" },
        this.filterInput,
        el("label", { class: "sort-label" }, "Sort ", this.sortSelect),
        this.orderButton,
        el("div", { class: "segmented layout-toggle", role: "group", "aria-label": "Layout" }, this.layoutButtons),
        this.summary,
      ),
      el(
        "div",
        { class: "rows-header", "aria-hidden": "true" },
        head("Host"),
        head("CPU"),
        head("Memory"),
        el("div", { class: "rows-header-foot" }, head("Disk"), head("Network"), head("Load")),
      ),
      this.grid,
      this.empty,
    );
    this.root = root;
    this.setLayout(savedLayout());
    return root;
  }

  /** Cards or rows; only CSS changes, so the switch costs one style pass. */
  setLayout(layout) {
    setClass(this.root, "layout-rows", layout === "rows");
    for (const button of this.layoutButtons) {
      setAttr(button, "aria-pressed", String(button.dataset.layout === layout));
    }
    try {
      localStorage.setItem(LAYOUT_KEY, layout);
    } catch {
      // Storage may be disabled; the choice then lasts for this page.
    }
    this.invalidate();
  }

  updateOrderButton() {
    setText(this.orderButton, this.descending ? "↓ high first" : "↑ low first");
    setAttr(this.orderButton, "aria-label", this.descending ? "descending" : "ascending");
  }

  onVisibility(entries) {
    for (const entry of entries) {
      const tile = entry.target.__tile;
      if (!tile) continue;
      tile.visible = entry.isIntersecting;
      if (tile.visible && tile.dirty) this.schedule();
    }
  }

  /** Applies the store's changes to the tiles on screen. */
  render(changes) {
    const fleet = this.fleet;
    if (changes.membership || (changes.alerts && this.sort === "alerts")) this.layoutDirty = true;
    for (const name of changes.hosts) {
      const tile = this.tiles.get(name);
      if (tile) tile.dirty = true;
    }
    const live = SORTS[this.sort].live && changes.hosts.size > 0;
    if (this.layoutDirty || (live && performance.now() - this.lastSort > LIVE_RESORT_MS)) {
      this.layout();
      this.updateSummary();
    } else if (changes.alerts) {
      this.updateSummary();
    }
    for (const name of this.order) {
      const tile = this.tiles.get(name);
      if (tile.visible && tile.dirty) this.updateTile(tile, fleet.hosts.get(name));
    }
  }

  /** Filters, sorts and places the tiles; creates and removes tiles as hosts come and go. */
  layout() {
    const fleet = this.fleet;
    this.layoutDirty = false;
    this.lastSort = performance.now();
    for (const [name, tile] of this.tiles) {
      if (!fleet.hosts.has(name)) {
        this.observer.unobserve(tile.root);
        tile.root.remove();
        this.tiles.delete(name);
      }
    }
    const sort = SORTS[this.sort];
    const direction = this.descending ? -1 : 1;
    const hosts = [...fleet.hosts.values()].filter((h) => h.name.includes(this.filter));
    hosts.sort((a, b) => {
      const ka = sort.key(a, fleet);
      const kb = sort.key(b, fleet);
      const c = ka < kb ? -1 : ka > kb ? 1 : 0;
      return c * direction || a.name.localeCompare(b.name);
    });
    this.order = hosts.map((h) => h.name);
    // The rows layout sizes its host column to the longest name shown.
    const longest = hosts.reduce((n, h) => Math.max(n, h.name.length), 4);
    setStyle(this.root, "--host-ch", `${Math.min(longest, 60)}ch`);
    let previous = null;
    for (const host of hosts) {
      let tile = this.tiles.get(host.name);
      if (!tile) {
        tile = this.makeTile(host.name);
        this.tiles.set(host.name, tile);
      }
      const expected = previous ? previous.nextSibling : this.grid.firstChild;
      if (expected !== tile.root) this.grid.insertBefore(tile.root, expected);
      previous = tile.root;
    }
    // Tiles filtered out leave the grid but are kept for when they match again.
    const shown = new Set(this.order);
    for (const [name, tile] of this.tiles) {
      if (!shown.has(name) && tile.root.parentNode) tile.root.remove();
    }
    this.updateEmpty();
  }

  updateEmpty() {
    const total = this.fleet.hosts.size;
    let message = "";
    if (this.fleet.snapshots === 0) {
      message = "Waiting for the server's first snapshot…";
    } else if (total === 0) {
      message = "No hosts yet. Point an agent here: mon agent --aggregator http://THIS-HOST:7070";
    } else if (this.order.length === 0) {
      message = `No host name contains “${this.filter}”.`;
    }
    setText(this.empty, message);
    this.empty.hidden = message === "";
  }

  updateSummary() {
    const fleet = this.fleet;
    if (fleet.snapshots === 0) return;
    let stale = 0;
    for (const host of fleet.hosts.values()) if (fleet.isStale(host)) stale += 1;
    const total = fleet.hosts.size;
    const shown = this.order.length;
    const noun = total === 1 ? "host" : "hosts";
    const parts = [shown === total ? `${total} ${noun}` : `${shown} of ${total} ${noun}`];
    if (stale > 0) parts.push(`${stale} stale`);
    if (fleet.alertsByHost.size > 0) parts.push(`${fleet.alertsByHost.size} with alerts`);
    setText(this.summary, parts.join(" · "));
  }

  /** Re-writes the ages (and stale marks) of the visible tiles; called every second. */
  tick() {
    for (const name of this.order) {
      const tile = this.tiles.get(name);
      const host = this.fleet.hosts.get(name);
      if (tile.visible && host) this.updateAge(tile, host);
    }
    this.updateSummary();
  }

  makeTile(name) {
    const cell = (cls) => el("span", { class: cls });
    const c = {
      dot: el("span", { class: "dot", "aria-hidden": "true" }),
      badge: el("span", { class: "badge", hidden: true }),
      age: cell("tile-age"),
      cpu: cell("metric-value cpu-value"),
      mem: cell("metric-value mem-value"),
      fs: cell("stat-value fs-value"),
      fsMount: cell("stat-sub fs-mount"),
      rx: cell("stat-value rx-value"),
      tx: cell("stat-value tx-value"),
      load: cell("stat-value load-value"),
      cpuSpark: el("canvas", { class: "spark", "aria-hidden": "true" }),
      memSpark: el("canvas", { class: "spark", "aria-hidden": "true" }),
      cpuMeter: meter(),
      memMeter: meter(),
      fsMeter: meter(),
    };
    const metric = (label, value, m, spark, cls) =>
      el("div", { class: `tile-metric ${cls}` }, el("span", { class: "metric-label", text: label }), value, m.root, spark);
    const stat = (label, ...values) =>
      el("div", { class: "stat" }, el("span", { class: "stat-label", text: label }), ...values);
    const root = el(
      "a",
      { class: "tile", href: `#/host/${encodeURIComponent(name)}`, role: "listitem", dataset: { host: name } },
      el("div", { class: "tile-head" }, c.dot, el("span", { class: "tile-name", text: name, title: name }), c.badge, c.age),
      metric("CPU", c.cpu, c.cpuMeter, c.cpuSpark, "cpu"),
      metric("Memory", c.mem, c.memMeter, c.memSpark, "mem"),
      el(
        "div",
        { class: "tile-foot" },
        stat("Disk", c.fs, c.fsMeter.root, c.fsMount),
        stat(
          "Net",
          el("span", { class: "net-line" }, el("span", { class: "arrow", text: "↓ " }), c.rx),
          el("span", { class: "net-line" }, el("span", { class: "arrow", text: "↑ " }), c.tx),
        ),
        stat("Load", c.load),
      ),
    );
    const tile = { root, cells: c, visible: false, dirty: true };
    root.__tile = tile;
    this.observer.observe(root);
    return tile;
  }

  updateTile(tile, host) {
    tile.dirty = false;
    const c = tile.cells;
    const s = host.summary;
    setText(c.cpu, fmt.percent(s.cpu));
    setLevel(c.cpu, s.cpu, ...LEVELS.cpu);
    setMeter(c.cpuMeter, s.cpu, LEVELS.cpu);
    setText(c.mem, fmt.percent(s.mem));
    setLevel(c.mem, s.mem, ...LEVELS.mem);
    setMeter(c.memMeter, s.mem, LEVELS.mem);
    setText(c.fs, fmt.percentWhole(s.fs));
    setLevel(c.fs, s.fs, ...LEVELS.fs);
    setMeter(c.fsMeter, s.fs, LEVELS.fs);
    setText(c.fsMount, s.fsMount);
    setAttr(c.fsMount, "title", s.fsMount);
    setText(c.rx, fmt.rate(s.rx));
    setText(c.tx, fmt.rate(s.tx));
    setText(c.load, fmt.load(s.load1));
    const alerts = this.fleet.alertsByHost.get(host.name);
    c.badge.hidden = !alerts;
    if (alerts) {
      setText(c.badge, String(alerts.count));
      setAttr(c.badge, "title", `${alerts.count} active alert${alerts.count === 1 ? "" : "s"}`);
      setClass(c.badge, "firing", alerts.firing);
      setClass(c.badge, "critical", alerts.severity === "critical");
    }
    drawSparkline(c.cpuSpark, host.cpuSpark, "--cpu");
    drawSparkline(c.memSpark, host.memSpark, "--mem");
    this.updateAge(tile, host);
  }

  updateAge(tile, host) {
    setText(tile.cells.age, fmt.age(this.fleet.ageMs(host)));
    const stale = this.fleet.isStale(host);
    setClass(tile.root, "stale", stale);
    setAttr(tile.cells.age, "title", stale ? `no sample for over 3 intervals (${fmt.duration(host.intervalMs())} each)` : "age of the last sample");
  }

  /** Redraws all visible canvases, e.g. after the colour scheme changed. */
  invalidate() {
    for (const tile of this.tiles.values()) tile.dirty = true;
    this.schedule();
  }
}
