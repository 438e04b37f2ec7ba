// silences.js — silences on the alerts page: the list (active and
// pending, each with an "Expire" button) and the form a "Silence" button
// of an alert opens, prefilled with matchers for its labels.
//
// Silences live in the server's alert state store, not in the live stream,
// so the list is read from `api/silences` when the page shows, after each
// change and every 15 s while it is open. Matchers and comments are
// untrusted text: written with `textContent` and input `value`s only.

import { el, setAttr, setText, syncRows } from "./dom.js";
import { getJson, sendJson } from "./api.js";
import * as fmt from "./format.js";

/** The rule-file matcher for one label, quoted as the rule files write it. */
export function matcher(name, value) {
  const quote = String(value).includes('"') ? "'" : '"';
  return `${name}=${quote}${value}${quote}`;
}

/** Matchers that select exactly this alert: its name, host and labels. */
export function alertMatchers(alert) {
  const out = [];
  if (typeof alert.alert === "string") out.push(matcher("alertname", alert.alert));
  if (typeof alert.host === "string") out.push(matcher("host", alert.host));
  const labels = alert.labels && typeof alert.labels === "object" ? alert.labels : {};
  for (const [k, v] of Object.entries(labels)) {
    if (k !== "alertname" && k !== "host") out.push(matcher(k, v));
  }
  return out;
}

export class SilenceList {
  constructor(now) {
    this.now = now;
    this.rows = new Map();
    this.silences = [];
    this.list = el("ul", { class: "silence-list" });
    this.count = el("span", { class: "count" });
    this.empty = el("p", { class: "empty", text: "No silences.", hidden: true });
    this.error = el("p", { class: "silence-error", role: "alert", hidden: true });
    this.element = el(
      "section",
      { class: "silences" },
      el("h2", {}, "Silences ", this.count),
      this.error,
      this.list,
      this.empty,
    );
    this.timer = null;
  }

  /** Starts reading the list now and every 15 s. */
  show() {
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), 15000);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async refresh() {
    // Off screen (another page): stop until `show()` again.
    if (this.timer !== null && !this.element.isConnected) {
      this.hide();
      return;
    }
    try {
      const body = await getJson("silences");
      this.silences = Array.isArray(body.silences) ? body.silences : [];
      this.fail("");
    } catch (e) {
      this.fail(`Silences cannot be read: ${e.message}`);
    }
    this.render();
  }

  fail(message) {
    setText(this.error, message);
    this.error.hidden = message === "";
  }

  render() {
    const shown = this.silences.filter((s) => s.state !== "expired");
    syncRows(
      this.list,
      shown.map((silence) => ({ key: String(silence.id), silence })),
      this.rows,
      () => this.makeRow(),
      (row, { silence }) => this.updateRow(row, silence),
    );
    setText(this.count, shown.length > 0 ? String(shown.length) : "");
    this.empty.hidden = shown.length > 0;
  }

  tick() {
    for (const row of this.rows.values()) this.updateLeft(row);
  }

  makeRow() {
    const cells = {
      state: el("span", { class: "silence-state" }),
      matchers: el("span", { class: "silence-matchers" }),
      left: el("span", { class: "silence-left" }),
      by: el("span", { class: "silence-by" }),
      comment: el("p", { class: "silence-comment" }),
    };
    const expire = el("button", { type: "button", class: "expire", text: "Expire" });
    const node = el(
      "li",
      { class: "silence" },
      el("div", { class: "silence-line" }, cells.state, cells.matchers, el("span", { class: "spacer" }), cells.left, cells.by, expire),
      cells.comment,
    );
    expire.addEventListener("click", () => this.expire(node, expire));
    node.cells = cells;
    return node;
  }

  updateRow(row, silence) {
    const c = row.cells;
    row.silence = silence;
    setAttr(row, "data-id", String(silence.id));
    setAttr(row, "data-state", String(silence.state));
    setText(c.state, String(silence.state));
    setText(c.matchers, Array.isArray(silence.matchers) ? silence.matchers.join(" ") : "");
    setText(c.by, silence.created_by ? `by ${silence.created_by}` : "");
    setText(c.comment, String(silence.comment ?? ""));
    c.comment.hidden = !silence.comment;
    this.updateLeft(row);
  }

  updateLeft(row) {
    const s = row.silence;
    if (!s) return;
    const now = this.now();
    const text =
      s.state === "pending"
        ? `starts in ${fmt.duration(Number(s.starts_at_ms) - now)}`
        : `ends in ${fmt.duration(Math.max(0, Number(s.ends_at_ms) - now))}`;
    setText(row.cells.left, text);
  }

  async expire(row, button) {
    button.disabled = true;
    try {
      await sendJson("DELETE", `silences/${encodeURIComponent(row.silence.id)}`);
      this.fail("");
    } catch (e) {
      this.fail(`Not expired: ${e.message}`);
    }
    button.disabled = false;
    await this.refresh();
  }
}

/**
 * The form that silences one alert: its matchers (one per line, editable),
 * a duration and a comment. `done()` is called after a silence is made.
 */
export class SilenceForm {
  constructor(done) {
    this.done = done;
    this.matchers = el("textarea", { name: "matchers", rows: 3, spellcheck: "false", "aria-label": "Matchers, one per line" });
    this.duration = el("input", { name: "duration", value: "2h", size: 6, "aria-label": "Duration" });
    this.comment = el("input", { name: "comment", placeholder: "why, e.g. reboot", "aria-label": "Comment" });
    this.error = el("p", { class: "silence-error", role: "alert", hidden: true });
    this.submit = el("button", { type: "submit", class: "primary", text: "Silence" });
    const cancel = el("button", { type: "button", text: "Cancel", onclick: () => this.close() });
    this.element = el(
      "form",
      { class: "silence-form", hidden: true },
      el("label", {}, "Matchers (all must match) ", this.matchers),
      el("div", { class: "silence-form-line" },
        el("label", {}, "For ", this.duration),
        el("label", { class: "grow" }, "Comment ", this.comment),
        this.submit,
        cancel,
      ),
      this.error,
    );
    this.element.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  /** Opens inside the alert's row for `alert`. */
  open(row, alert) {
    this.matchers.value = alertMatchers(alert).join("\n");
    this.matchers.rows = Math.max(2, this.matchers.value.split("\n").length);
    this.error.hidden = true;
    row.append(this.element);
    this.element.hidden = false;
    this.comment.focus();
  }

  close() {
    this.element.hidden = true;
    this.element.remove();
  }

  async send() {
    const matchers = this.matchers.value
      .split("\n")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    this.submit.disabled = true;
    try {
      await sendJson("POST", "silences", {
        matchers,
        duration: this.duration.value.trim(),
        comment: this.comment.value.trim(),
        created_by: "dashboard",
      });
      this.close();
      this.done();
    } catch (e) {
      setText(this.error, e.message);
      this.error.hidden = false;
    }
    this.submit.disabled = false;
  }
}
