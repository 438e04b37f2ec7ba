// app.js — the dashboard's entry point: it wires the WebSocket to the
// store, the store to the views, and the URL hash to the page shown.
//
//   Connection ──frames──► Fleet (store) ──changes──► current view
//                                  ▲                      │
//                     one render per animation frame ◄────┘ schedule()
//
// Pages: `#/` the fleet grid (with the most urgent alerts above it),
// `#/host/NAME` one host (which the page watches: see `showRoute`),
// `#/alerts` every active alert. Frames only update the store and ask for a
// frame; all DOM work happens in `renderFrame`, so a burst of events from a
// thousand hosts costs one render.

import { AlertList } from "./alerts.js";
import { SilenceForm, SilenceList } from "./silences.js";
import { getJson } from "./api.js";
import { refreshColors } from "./chart.js";
import { Connection } from "./connection.js";
import { el, setAttr, setClass, setText } from "./dom.js";
import { FleetView } from "./fleet.js";
import { HostView } from "./host.js";
import { Fleet } from "./store.js";

const fleet = new Fleet();
const main = document.getElementById("app");
const connPill = document.getElementById("conn");
const connLabel = document.getElementById("conn-label");
const connDetail = document.getElementById("conn-detail");
const alertCount = document.getElementById("alert-count");
const navLinks = document.querySelectorAll("[data-nav]");

let frameRequested = false;
let tickDue = false;

/** Asks for one render on the next animation frame. */
function schedule() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(renderFrame);
}

/** The fleet page: a short alert list above the grid. */
class FleetPage {
  constructor() {
    this.grid = new FleetView(fleet, schedule);
    this.alerts = new AlertList(fleet, { limit: 5, title: "Active alerts", hideWhenEmpty: true });
    this.element = document.createElement("div");
    this.element.append(this.alerts.element, this.grid.element);
    this.fresh = true;
  }

  render(changes) {
    if (changes.alerts || this.fresh) this.alerts.render();
    this.fresh = false;
    this.grid.render(changes);
  }

  tick() {
    this.grid.tick();
    this.alerts.tick();
  }

  /** The page was off screen and missed changes: everything is redrawn. */
  show() {
    this.fresh = true;
    this.grid.layoutDirty = true;
    this.grid.invalidate();
  }
}

class AlertsPage {
  constructor() {
    this.silences = new SilenceList(() => fleet.now());
    this.form = new SilenceForm(() => this.silences.refresh());
    this.list = new AlertList(fleet, { title: "Active alerts", onSilence: (row, alert) => this.form.open(row, alert) });
    this.element = el("div", { class: "view-alerts" }, this.list.element, this.silences.element);
  }

  render(changes) {
    if (changes.alerts || this.fresh) this.list.render();
    this.fresh = false;
  }

  tick() {
    this.list.tick();
    this.silences.tick();
  }

  show() {
    this.fresh = true;
    this.silences.show();
  }
}

const fleetPage = new FleetPage();
const alertsPage = new AlertsPage();
let page = null;
let hostView = null;

function parseRoute() {
  // `#/host/NAME?range=6h`: the part after `?` is the page's own state.
  const [hash, query = ""] = window.location.hash.replace(/^#\/?/, "").split("?", 2);
  if (hash.startsWith("host/")) {
    try {
      return { name: "host", host: decodeURIComponent(hash.slice("host/".length)), params: new URLSearchParams(query) };
    } catch {
      return { name: "fleet" };
    }
  }
  return { name: hash === "alerts" ? "alerts" : "fleet" };
}

function showRoute() {
  const route = parseRoute();
  if (hostView) {
    hostView.destroy();
    hostView = null;
  }
  // The host page's process and cgroup tables come only while it watches
  // that host; any other page watches none, so the agent goes back to
  // reading them every 30 s.
  const watched = route.name === "host" ? route.host : null;
  fleet.watch(watched);
  connection.watch(watched);
  if (route.name === "host") {
    hostView = new HostView(fleet, route.host, schedule, route.params);
    page = hostView;
  } else {
    page = route.name === "alerts" ? alertsPage : fleetPage;
    page.show();
  }
  main.replaceChildren(page.element);
  for (const link of navLinks) {
    if (link.dataset.nav === route.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  window.scrollTo(0, 0);
  schedule();
}

function renderFrame() {
  frameRequested = false;
  const changes = fleet.takeChanges();
  page.render(changes);
  if (tickDue) {
    tickDue = false;
    page.tick();
  }
  renderHeader();
}

function renderHeader() {
  setAttr(connPill, "data-state", connection.state);
  setText(connLabel, connection.label());
  setText(connDetail, connection.detail);
  setAttr(connDetail, "title", connection.detail);
  setAttr(connPill, "title", connection.state === "live" ? "" : "connect now");
  setClass(document.body, "disconnected", connection.state !== "live");
  const alerts = fleet.alerts.size;
  setText(alertCount, alerts > 0 ? String(alerts) : "");
  alertCount.hidden = alerts === 0;
  const where = hostView ? hostView.name : `${fleet.hosts.size} hosts`;
  const title = `${alerts > 0 ? `(${alerts}) ` : ""}${where} · mon`;
  if (document.title !== title) document.title = title;
}

function onFrame(frame) {
  switch (frame.type) {
    case "snapshot":
      fleet.applySnapshot(frame);
      break;
    case "metrics":
      fleet.applyMetrics(frame);
      break;
    case "alert":
      fleet.applyAlert(frame);
      break;
    case "host":
      fleet.applyHost(frame);
      break;
    case "processes":
    case "cgroups":
      fleet.applyActivity(frame);
      break;
    default:
      // hello, subscribed, status and error frames change no data.
      break;
  }
  schedule();
}

/** Backoff for `fillMissingMeta`: retried sooner while it finds something. */
const metaFetch = { next: 0, waitMs: 2000, busy: false };

/**
 * A fallback for hosts still without metadata (the interval that decides
 * staleness, OS, cores): `host` events bring it live, but a gateway whose
 * bus link was down at an agent's hello never saw one; the HTTP API asks
 * the bus again.
 */
async function fillMissingMeta() {
  if (metaFetch.busy || connection.state !== "live" || Date.now() < metaFetch.next) return;
  if (!fleet.lacksMeta()) return;
  metaFetch.busy = true;
  try {
    const answer = await getJson("hosts");
    const filled = fleet.applyMeta(answer.hosts);
    metaFetch.waitMs = filled > 0 ? 2000 : Math.min(metaFetch.waitMs * 2, 300e3);
    if (filled > 0) schedule();
  } catch (error) {
    metaFetch.waitMs = Math.min(metaFetch.waitMs * 2, 300e3);
    console.warn("mon: cannot read host metadata", error);
  } finally {
    metaFetch.next = Date.now() + metaFetch.waitMs;
    metaFetch.busy = false;
  }
}

const connection = new Connection({ onFrame, onState: schedule });
connPill.addEventListener("click", () => connection.connectNow());

window.addEventListener("hashchange", showRoute);
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  refreshColors();
  fleetPage.grid.invalidate();
  if (hostView) hostView.chartsDirty = true;
  schedule();
});
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (event.key === "/" && !typing && page === fleetPage) {
    event.preventDefault();
    fleetPage.grid.filterInput.focus();
  }
});
setInterval(() => {
  tickDue = true;
  schedule();
  fillMissingMeta();
}, 1000);

showRoute();
connection.start();
