// alerts.js — the list of active alerts (pending and firing), most urgent
// first. One component serves three places: the alerts page, a short list
// above the fleet grid, and the alerts of one host on its page.
//
// Alert names, labels and annotations are untrusted text like everything
// else from the server: they are written with `textContent` only. An alert
// a silence holds is marked "silenced"; with `onSilence`, each row has a
// "Silence" button that calls it with the row and the alert.

import { el, setAttr, setClass, setText, syncRows } from "./dom.js";
import * as fmt from "./format.js";

export class AlertList {
  /**
   * `host` restricts the list to one host; `limit` shows at most that many
   * rows with a link to the full list; `title` heads the list.
   */
  constructor(fleet, { host = null, limit = Infinity, title = "Active alerts", hideWhenEmpty = false, onSilence = null }) {
    this.fleet = fleet;
    this.onSilence = onSilence;
    this.host = host;
    this.limit = limit;
    this.hideWhenEmpty = hideWhenEmpty;
    this.rows = new Map();
    this.list = el("ul", { class: "alert-list" });
    this.count = el("span", { class: "count" });
    this.more = el("a", { class: "more", href: "#/alerts", hidden: true });
    this.empty = el("p", { class: "empty", text: "No active alerts.", hidden: true });
    this.element = el(
      "section",
      { class: "alerts" },
      el("h2", {}, title, " ", this.count),
      this.list,
      this.empty,
      this.more,
    );
  }

  render() {
    const alerts = this.fleet.sortedAlerts(this.host);
    const shown = alerts.slice(0, this.limit);
    syncRows(
      this.list,
      shown.map((alert) => ({ key: alert.id, alert })),
      this.rows,
      () => this.makeRow(),
      (row, { alert }) => this.updateRow(row, alert),
    );
    setText(this.count, alerts.length > 0 ? String(alerts.length) : "");
    this.more.hidden = alerts.length <= shown.length;
    setText(this.more, `All ${alerts.length} alerts →`);
    this.empty.hidden = alerts.length > 0 || this.hideWhenEmpty;
    this.element.hidden = this.hideWhenEmpty && alerts.length === 0;
  }

  /** Ticks the "since" column. */
  tick() {
    for (const row of this.rows.values()) {
      if (row.since > 0) setText(row.cells.since, fmt.duration(this.fleet.now() - row.since));
    }
  }

  makeRow() {
    const cells = {
      severity: el("span", { class: "severity" }),
      name: el("span", { class: "alert-name" }),
      host: el("a", { class: "alert-host" }),
      state: el("span", { class: "alert-state" }),
      value: el("span", { class: "alert-value" }),
      since: el("span", { class: "alert-since" }),
      summary: el("p", { class: "alert-summary" }),
      labels: el("span", { class: "alert-labels" }),
      silenced: el("span", { class: "alert-silenced", text: "silenced", hidden: true }),
    };
    const silence = this.onSilence
      ? el("button", { type: "button", class: "silence-button", text: "Silence" })
      : null;
    const node = el(
      "li",
      { class: "alert" },
      el(
        "div",
        { class: "alert-line" },
        cells.severity,
        cells.name,
        this.host === null ? cells.host : null,
        cells.labels,
        el("span", { class: "spacer" }),
        cells.value,
        cells.state,
        cells.silenced,
        el("span", { class: "alert-for" }, "for ", cells.since),
        silence,
      ),
      cells.summary,
    );
    if (silence) silence.addEventListener("click", () => this.onSilence(node, node.alert));
    node.cells = cells;
    node.since = 0;
    return node;
  }

  updateRow(row, alert) {
    const c = row.cells;
    row.alert = alert;
    const silenced = alert.silenced === true;
    c.silenced.hidden = !silenced;
    setAttr(row, "data-silenced", String(silenced));
    if (silenced && Array.isArray(alert.silenced_by)) setAttr(c.silenced, "title", `by ${alert.silenced_by.join(", ")}`);
    const severity = typeof alert.severity === "string" ? alert.severity : "warning";
    const state = typeof alert.state === "string" ? alert.state : "";
    setText(c.severity, severity);
    setAttr(row, "data-severity", severity);
    setAttr(row, "data-state", state);
    setClass(row, "pending", state === "pending");
    setText(c.name, String(alert.alert ?? "alert"));
    const host = typeof alert.host === "string" ? alert.host : "";
    setText(c.host, host);
    setAttr(c.host, "href", `#/host/${encodeURIComponent(host)}`);
    setText(c.state, state);
    const value = Number(alert.value);
    setText(c.value, Number.isFinite(value) ? `value ${+value.toFixed(2)}` : "");
    const labels = alert.labels && typeof alert.labels === "object" ? alert.labels : {};
    setText(
      c.labels,
      Object.entries(labels)
        .filter(([k]) => k !== "host" && k !== "alertname" && k !== "severity")
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
    );
    const annotations = alert.annotations && typeof alert.annotations === "object" ? alert.annotations : {};
    const summary = annotations.summary ?? annotations.description ?? "";
    setText(c.summary, String(summary));
    c.summary.hidden = summary === "";
    row.since = Number(alert.active_since_ms) || 0;
    setText(c.since, row.since > 0 ? fmt.duration(this.fleet.now() - row.since) : "–");
  }
}
