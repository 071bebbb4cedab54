// The live stream (/api/v1/stream): events in, authenticated by the session cookie.
// It reconnects by itself with a growing, jittered wait; after every reconnect the
// page catches up from history (events are not kept for a stream that was away).

const PING_MS = 25000;
const MAX_WAIT_MS = 15000;

export class Stream {
  constructor({ onEvent, onOpen, onDown, stillLoggedIn }) {
    this.onEvent = onEvent;
    this.onOpen = onOpen; // (reconnected: boolean)
    this.onDown = onDown;
    this.stillLoggedIn = stillLoggedIn; // async () => boolean
    this.ws = null;
    this.failures = 0;
    this.opened = false;
    this.stopped = false;
    this.timer = null;
    this.ping = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", this.nudge);
  }

  nudge = () => {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timer);
    this.connect();
  };

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const reconnected = this.opened;
      this.opened = true;
      this.failures = 0;
      this.ping = setInterval(() => this.send({ type: "ping" }), PING_MS);
      this.onOpen(reconnected);
    });
    ws.addEventListener("message", (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch { return; }
      this.onEvent(ev);
    });
    ws.addEventListener("close", () => this.closed(ws));
  }

  async closed(ws) {
    clearInterval(this.ping);
    if (ws !== this.ws || this.stopped) return;
    this.onDown();
    // A refused upgrade looks like any other drop: ask whether the session lives.
    if (!(await this.stillLoggedIn())) return;
    if (this.stopped) return;
    const wait = Math.min(MAX_WAIT_MS, 500 * 2 ** this.failures) * (0.75 + Math.random() / 2);
    this.failures += 1;
    this.timer = setTimeout(() => this.connect(), wait);
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  get up() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    window.removeEventListener("online", this.nudge);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }
}
