// The live alarm feed: one WebSocket to /api/v1/alarms/live, reconnected with backoff and the
// last event id seen (the server replays what was missed). While the socket is down the list
// is refreshed over REST every few seconds, so alarms keep arriving (and gaps are filled) even
// when the feed cannot be reached; the app deduplicates by alarm id.

const BACKOFF_S = [1, 2, 4, 8, 15, 30];
const POLL_MS = 3000;

export class AlarmFeed {
  /**
   * @param {object} handlers
   *   token(): the bearer token; alarm(alarm, type): an alarm changed; event(message): a non-alarm
   *   event (camera.offline ...); refresh(): re-read the list over REST (after a gap or a loss);
   *   state(name): "connecting" | "live" | "polling" | "stopped".
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.lastEventId = null;
    this.socket = null;
    this.failures = 0;
    this.retry = null;
    this.poller = null;
    this.running = false;
  }

  start() {
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retry);
    this.stopPolling();
    if (this.socket) this.socket.close(1000, "logout");
    this.socket = null;
    this.handlers.state("stopped");
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ access_token: this.handlers.token() });
    if (this.lastEventId !== null) query.set("last_event_id", this.lastEventId);
    return `${scheme}://${location.host}/api/v1/alarms/live?${query}`;
  }

  connect() {
    if (!this.running) return;
    this.handlers.state(this.poller ? "polling" : "connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (event) => {
      if (this.socket !== socket || !this.running) return;
      this.socket = null;
      // 4401: the token was refused; a REST read then meets the same 401 and ends the session
      if (event.code === 4401) this.handlers.refresh();
      this.startPolling();
      const delay = BACKOFF_S[Math.min(this.failures, BACKOFF_S.length - 1)];
      this.failures += 1;
      this.retry = setTimeout(() => this.connect(), delay * 1000 * (0.8 + Math.random() * 0.4));
    };
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.kind === "ready") {
      this.failures = 0;
      this.stopPolling();
      if (message.last_event_id !== undefined && message.last_event_id !== null) {
        this.lastEventId = message.last_event_id;
      }
      this.handlers.state("live");
      this.handlers.refresh(); // fills any gap the replay could not (first connect, pruned events)
    } else if (message.kind === "event") {
      if (message.id !== undefined) this.lastEventId = message.id;
      if (message.alarm) this.handlers.alarm(message.alarm, message.type);
      else this.handlers.event(message);
    } else if (message.kind === "lost") {
      // the server dropped events this client was too slow for: re-read the list
      this.handlers.refresh();
    }
  }

  startPolling() {
    if (this.poller || !this.running) return;
    this.handlers.state("polling");
    this.handlers.refresh();
    this.poller = setInterval(() => this.handlers.refresh(), POLL_MS);
  }

  stopPolling() {
    clearInterval(this.poller);
    this.poller = null;
  }
}
