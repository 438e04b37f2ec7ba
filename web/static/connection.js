// connection.js — one WebSocket to `/ws`, kept open for the life of the page.
//
// States, as the header shows them:
//   connecting        an attempt is in flight
//   live              the server's snapshot arrived; events flow
//   reconnecting      waiting `retryAt` before the next attempt
//   offline           the browser says it has no network; wait for it
// A closed socket is retried with exponential backoff and jitter (1 s
// doubling to 30 s), reset once a snapshot arrives. A failed handshake is
// diagnosed through the HTTP API so the page can say *why* (a missing
// token), which a WebSocket error event never tells.
//
// The host whose process and cgroup tables the page wants (`watch`) is
// remembered here and sent again on every new socket: a watch belongs to
// one server session and is gone after a reconnect.

import { getJson, wsUrl } from "./api.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class Connection {
  /**
   * `onFrame(frame)` gets every parsed frame; `onState()` is called when
   * `state`, `detail` or `retryAt` change.
   */
  constructor({ onFrame, onState }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.state = "connecting";
    this.detail = "";
    this.retryAt = 0;
    this.failures = 0;
    this.socket = null;
    this.timer = 0;
    /** The host watched, or null. */
    this.watching = null;
    window.addEventListener("online", () => this.connectNow());
    window.addEventListener("offline", () => this.goOffline());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state === "reconnecting") this.connectNow();
    });
  }

  start() {
    if (navigator.onLine === false) this.goOffline();
    else this.open();
  }

  /** Skips the rest of the backoff wait. */
  connectNow() {
    if (this.state === "live" || this.state === "connecting") return;
    clearTimeout(this.timer);
    this.open();
  }

  open() {
    this.set("connecting", this.failures > 0 ? `attempt ${this.failures + 1}` : "");
    let socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch (error) {
      this.scheduleRetry(`cannot open the WebSocket: ${error.message}`);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      if (this.watching !== null) this.sendWatch(socket);
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (opened) this.scheduleRetry(closeReason(event));
      else this.diagnose();
    });
  }

  /**
   * Asks the server for the `processes` and `cgroups` frames of `host`
   * (null: none). Sent now when the socket is open, and again after every
   * reconnect.
   */
  watch(host) {
    if (host === this.watching) return;
    this.watching = host;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.sendWatch(this.socket);
  }

  sendWatch(socket) {
    try {
      socket.send(JSON.stringify({ type: "watch", host: this.watching }));
    } catch (error) {
      // A socket closing under us: its close event reconnects, and the
      // new socket sends the watch.
      console.warn("mon: cannot send the watch", error);
    }
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn("mon: ignoring a frame that is not JSON", data);
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "snapshot") {
      this.failures = 0;
      this.set("live", "");
    } else if (frame.type === "status" && typeof frame.upstream === "string") {
      this.set(this.state, frame.upstream === "connected" ? "" : `upstream ${frame.upstream}`);
    } else if (frame.type === "error") {
      console.warn("mon: the server answered with an error", frame.code, frame.message);
    }
    this.onFrame(frame);
  }

  /** The handshake failed: ask the HTTP API why, then wait and retry. */
  async diagnose() {
    let detail = "the server did not accept the WebSocket";
    try {
      await getJson("alerts");
    } catch (error) {
      detail = error instanceof TypeError ? "the server cannot be reached" : error.message;
    }
    this.scheduleRetry(detail);
  }

  scheduleRetry(detail) {
    if (navigator.onLine === false) {
      this.goOffline();
      return;
    }
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    // Equal jitter: never sooner than half the ceiling, so a restarted
    // server is not hit by every open page in the same second.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.failures += 1;
    this.retryAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
    this.set("reconnecting", detail);
  }

  goOffline() {
    clearTimeout(this.timer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close();
    }
    this.set("offline", "this browser has no network");
  }

  set(state, detail) {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    this.onState();
  }

  /** What the header shows, e.g. "reconnecting in 4s". */
  label() {
    if (this.state !== "reconnecting") return this.state;
    const seconds = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
    return `reconnecting in ${seconds}s`;
  }
}

function closeReason(event) {
  const reason = event.reason ? `: ${event.reason}` : "";
  switch (event.code) {
    case 1001:
      return `the server went away${reason}`;
    case 1008:
      return `closed by the server${reason}`;
    case 1009:
      return `message too big${reason}`;
    default:
      return `connection closed (code ${event.code})${reason}`;
  }
}
