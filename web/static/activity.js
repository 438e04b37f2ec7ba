// activity.js — what runs on a host: its top processes and its cgroups
// (services, containers, user sessions), a pane of the host page.
//
// Live, the tables are the watched host's latest `processes` and `cgroups`
// frames, which the store keeps (`app.js` sends the watch). For a past
// moment — the end of a fixed range, or a click on a chart — the pane asks
// `/api/hosts/{host}/processes?at=T` and `/cgroups?at=T` for the tables
// kept for that minute, and says so when none was kept (404). "Back to
// live" returns to the frames.
//
// Rows come in no particular order: they are sorted here, by CPU unless a
// memory header was clicked. Names and command lines are untrusted text and
// reach the page through `dom.js` only, as every server string does.

import { getJson } from "./api.js";
import { el, setAttr, setClass, setText, syncRows } from "./dom.js";
import * as fmt from "./format.js";
import { cgroupTable, processTable } from "./store.js";

/** A figure for sorting: a missing one sorts below every real one. */
const rank = (x) => (Number.isNaN(x) ? -Infinity : x);

const KIND_TEXT = { service: "service", container: "container", user: "user", other: "other" };

/**
 * A table of rows replaced by key and sorted by a clickable column.
 * `columns`: `[{label, cls, sort, text(row), title(row)}]`, `sort` naming
 * the row field a click on the header sorts by (descending first, a second
 * click reverses).
 */
class SortedTable {
  constructor({ name, title, columns, keyOf, tieBreak, sort }) {
    this.columns = columns;
    this.keyOf = keyOf;
    this.tieBreak = tieBreak;
    this.sort = { key: sort, descending: true };
    this.rows = [];
    this.cache = new Map();
    this.heads = new Map();
    this.title = el("h2", { text: title });
    this.meta = el("span", { class: "activity-meta" });
    this.note = el("p", { class: "empty activity-note", role: "status" });
    this.body = el("tbody");
    const heads = columns.map((c) => {
      if (!c.sort) return el("th", { class: c.cls ?? "", text: c.label });
      const th = el(
        "th",
        { class: `sortable ${c.cls ?? ""}`, dataset: { sort: c.sort } },
        el("button", { type: "button", text: c.label, title: `sort by ${c.label.toLowerCase()}`, onclick: () => this.sortBy(c.sort) }),
      );
      this.heads.set(c.sort, th);
      return th;
    });
    this.table = el("table", { class: "activity-table" }, el("thead", {}, el("tr", {}, heads)), this.body);
    this.element = el(
      "section",
      { class: `panel activity-panel ${name}`, dataset: { table: name } },
      el("div", { class: "activity-panel-head" }, this.title, this.meta),
      this.note,
      el("div", { class: "activity-scroll" }, this.table),
    );
    this.markSort();
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? { key, descending: !this.sort.descending } : { key, descending: true };
    this.markSort();
    this.draw();
  }

  markSort() {
    for (const [key, th] of this.heads) {
      const on = key === this.sort.key;
      setAttr(th, "aria-sort", on ? (this.sort.descending ? "descending" : "ascending") : "none");
      setClass(th, "sorted", on);
    }
    this.element.dataset.sort = this.sort.key;
  }

  /** Shows `rows`, or none with `note` saying why. */
  show(rows, note = "") {
    this.rows = rows;
    setText(this.note, note);
    this.note.hidden = note === "";
    this.table.hidden = rows.length === 0;
    this.draw();
  }

  draw() {
    const { key, descending } = this.sort;
    const sign = descending ? -1 : 1;
    const sorted = [...this.rows].sort((a, b) => sign * (rank(a[key]) - rank(b[key])) || this.tieBreak(a, b));
    syncRows(
      this.body,
      sorted.map((row) => ({ key: this.keyOf(row), row })),
      this.cache,
      () => this.makeRow(),
      (tr, item) => this.fillRow(tr, item.row),
    );
  }

  makeRow() {
    const tr = el("tr");
    tr.cells_ = this.columns.map((c) => el("td", { class: c.cls ?? "" }));
    tr.append(...tr.cells_);
    return tr;
  }

  fillRow(tr, row) {
    setAttr(tr, "data-key", String(this.keyOf(row)));
    // The raw figures, for whoever reads the table programmatically (the
    // browser tests check the order with them).
    setAttr(tr, "data-cpu", String(row.cpu));
    setAttr(tr, "data-memory", String(row.memory));
    this.columns.forEach((c, i) => {
      const td = tr.cells_[i];
      setText(td, c.text(row));
      if (c.title) setAttr(td, "title", c.title(row));
    });
  }
}

function processColumns() {
  return [
    { label: "PID", cls: "num pid", text: (r) => String(r.pid) },
    { label: "User", cls: "user", text: (r) => r.user, title: (r) => r.user },
    { label: "Name", cls: "key name", text: (r) => r.name, title: (r) => r.name },
    { label: "Command", cls: "command", text: (r) => r.command, title: (r) => r.command },
    { label: "CPU", cls: "num", sort: "cpu", text: (r) => fmt.percent(r.cpu) },
    { label: "Memory", cls: "num", sort: "memory", text: (r) => fmt.bytes(r.memory) },
    { label: "Read", cls: "num", text: (r) => fmt.rate(r.read) },
    { label: "Write", cls: "num", text: (r) => fmt.rate(r.write) },
  ];
}

function cgroupColumns() {
  return [
    { label: "Name", cls: "key name", text: (r) => r.name, title: (r) => r.path },
    { label: "Kind", cls: "kind", text: (r) => KIND_TEXT[r.kind] ?? "other" },
    { label: "CPU", cls: "num", sort: "cpu", text: (r) => fmt.percent(r.cpu) },
    { label: "Memory", cls: "num", sort: "memory", text: (r) => fmt.bytes(r.memory) },
    { label: "Peak", cls: "num", text: (r) => fmt.bytes(r.peak) },
    { label: "Read", cls: "num", text: (r) => fmt.rate(r.read) },
    { label: "Write", cls: "num", text: (r) => fmt.rate(r.write) },
    { label: "PIDs", cls: "num", text: (r) => fmt.count(r.pids) },
  ];
}

/** "64 of 312 processes", or "12 processes" when every one is listed. */
function listed(shown, total, noun) {
  return shown < total ? `${fmt.count(shown)} of ${fmt.count(total)} ${noun}` : `${fmt.count(total)} ${noun}`;
}

export class ActivityPane {
  constructor(fleet, host, schedule) {
    this.fleet = fleet;
    this.host = host;
    this.schedule = schedule;
    /** null: live; otherwise the time asked for, in Unix ms. */
    this.at = null;
    this.generation = 0;
    this.fresh = true;
    this.processes = new SortedTable({
      name: "processes",
      title: "Processes",
      columns: processColumns(),
      keyOf: (r) => r.pid,
      tieBreak: (a, b) => a.pid - b.pid,
      sort: "cpu",
    });
    this.cgroups = new SortedTable({
      name: "cgroups",
      title: "Cgroups and containers",
      columns: cgroupColumns(),
      keyOf: (r) => r.path,
      tieBreak: (a, b) => a.path.localeCompare(b.path),
      sort: "cpu",
    });
    this.heading = el("h2", { class: "activity-title" });
    this.live = el("button", {
      type: "button",
      class: "back-live",
      text: "↻ Back to live",
      title: "show the tables as they are now",
      onclick: () => this.goLive(),
    });
    this.element = el(
      "div",
      { class: "activity", dataset: { mode: "live" } },
      el("div", { class: "activity-bar" }, this.heading, this.live),
      this.processes.element,
      this.cgroups.element,
    );
    this.showLive();
  }

  /** The range changed: a fixed span shows the tables at its end, a preset the live ones. */
  followRange(range) {
    if (range.preset) {
      if (this.at !== null) this.goLive();
    } else {
      this.showAt(range.to);
    }
  }

  goLive() {
    this.at = null;
    this.generation += 1;
    this.fresh = true;
    this.showLive();
    this.schedule();
  }

  showLive() {
    this.element.dataset.mode = "live";
    this.live.hidden = true;
    setText(this.heading, "Running now");
    delete this.element.dataset.at;
  }

  /** Shows the tables kept for the minute at or before `ts`. */
  async showAt(ts) {
    const at = Math.round(ts);
    this.at = at;
    const generation = ++this.generation;
    this.element.dataset.mode = "history";
    this.element.dataset.at = String(at);
    this.live.hidden = false;
    setText(this.heading, `Top processes at ${fmt.dateTime(at)}`);
    for (const table of [this.processes, this.cgroups]) {
      setText(table.meta, "");
      table.show([], "Loading the table kept for that time…");
    }
    const path = `hosts/${encodeURIComponent(this.host)}`;
    const [processes, cgroups] = await Promise.allSettled([
      getJson(`${path}/processes`, { at }),
      getJson(`${path}/cgroups`, { at }),
    ]);
    if (generation !== this.generation) return;
    this.showPast(this.processes, processes, processTable, at);
    this.showPast(this.cgroups, cgroups, cgroupTable, at);
    this.schedule();
  }

  /** One answer of the history API: its table, or what it means that there is none. */
  showPast(view, answer, read, at) {
    if (answer.status === "rejected") {
      const error = answer.reason;
      setText(view.meta, "");
      view.show(
        [],
        error?.status === 404
          ? `No table kept for that time (${fmt.dateTime(at)}): one is kept a minute while the host reports, for 7 days.`
          : `Cannot load the table: ${error?.message ?? error}.`,
      );
      return;
    }
    const table = read(answer.value);
    if (!table) {
      setText(view.meta, "");
      view.show([], "The server's answer holds no table.");
      return;
    }
    this.fill(view, table);
    setText(view.meta, this.describe(view, table, `table of ${fmt.dateTime(table.ts)}`));
  }

  /** `view` shows `table`'s rows, or why there are none. */
  fill(view, table) {
    if (table.unavailable) view.show([], `Not available here: ${table.unavailable}`);
    else view.show(table.rows, table.rows.length === 0 ? "Nothing listed in this table." : "");
  }

  /** The line beside a table's title: how many rows of how many, and `when`. */
  describe(view, table, when) {
    const noun = view === this.processes ? "processes" : "cgroups";
    return table.unavailable ? when : `${listed(table.rows.length, table.total, noun)} · ${when}`;
  }

  render(changes) {
    if (this.at !== null || !(changes.activity || this.fresh)) return;
    this.fresh = false;
    const tables = this.fleet.activity.host === this.host ? this.fleet.activity : { processes: null, cgroups: null };
    for (const [view, table] of [
      [this.processes, tables.processes],
      [this.cgroups, tables.cgroups],
    ]) {
      if (table) this.fill(view, table);
      else view.show([], "Waiting for the first table…");
    }
    this.tick();
  }

  /** The live tables' age; called every second. */
  tick() {
    if (this.at !== null) return;
    const tables = this.fleet.activity.host === this.host ? this.fleet.activity : { processes: null, cgroups: null };
    for (const [view, table] of [
      [this.processes, tables.processes],
      [this.cgroups, tables.cgroups],
    ]) {
      const text = table ? this.describe(view, table, `updated ${fmt.age(Math.max(0, this.fleet.now() - table.ts))}`) : "";
      setText(view.meta, text);
      if (table) view.element.dataset.ts = String(table.ts);
    }
  }

  destroy() {
    this.generation += 1;
  }
}
