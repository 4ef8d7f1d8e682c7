// The board's state, what a line reads as (fail closed: nothing unknown reads as bettable),
// and the small page and storage helpers every other module uses.

export const STOPPED = new Set(["suspended", "handed_over"]);
export const CLOSED = new Set(["deactivated", "settled", "cancelled"]);
const ALIVE_TIMEOUT_MS = 20000; // FEED_ALIVE_TIMEOUT_SECONDS's default, for a server that sends none
export const CANCELLED_FIXTURE = new Set(["cancelled", "70", "90"]); // cancelled, abandoned
// The relay's reason for lines it suspended after a product was down (feed/relay.py FEED_GAP):
// not a BetStop; they wait for odds sent after the feed came back.
export const FEED_GAP = "feed gap";

export const board = {
  seq: 0,
  synced: false, // a snapshot arrived on the current socket and no gap since
  ws: null,
  heardAt: 0, // when the current socket last brought a message
  silentAt: 0, // when the watchdog last gave up on a silent socket
  retry: 0,
  health: null,
  healthAt: 0,
  disconnectedAt: Date.now(),
  events: new Map(), // event_id -> event entry (see eventEntry, render.js)
  lines: new Map(), // key -> line entry (see createLine, render.js)
  stats: null,
  renderedAt: 0,
  builtAt: 0,
  pending: 0, // snapshot lines not built yet (a big board is built a screenful first)
  outages: { 1: null, 3: null }, // product -> {since, li, server, reason} while it is down
  outageItems: new Map(), // "product:since" -> the log entry of an outage the server remembers
  localOutages: [], // log entries of outages only this page saw: kept across repaints
  pinned: new Set(),
  expanded: new Set(), // events opened to every market in the dense view
  folded: new Set(), // events folded to their main market in the card view
  sounds: 0, // BetStop sounds played (the tests read it)
  sort: "live",
  moves: true, // odds moves shown (an arrow, a tint): the trader may turn them off
  boardHeld: false, // the pointer is over the events: nothing reorders them by itself
  orderDue: false, // the order waits for the pointer to leave, or for its cadence
  orderedAt: 0, // when the events were last sorted
  logHeld: false, // the pointer or the focus is on the log: new entries wait
  logWaiting: [], // [li, at] of entries that arrived while it was held, oldest first
  logDropped: 0, // entries that arrived while it was held, past the log's length
};
export const $ = (id) => document.getElementById(id);
export const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // feed text is always text, never markup
  return node;
};
export const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };
export const lineKey = (line) => `${line.event_id}\u0000${line.market_id}\u0000${line.specifiers}`;
export const stored = (name, fallback) => {
  try { return localStorage.getItem(`board.${name}`) ?? fallback; } catch { return fallback; }
};
export const store = (name, value) => {
  try { localStorage.setItem(`board.${name}`, value); } catch { /* private mode: not kept */ }
};

// How long without an alive before the server calls a product down: sent with its health
// (FEED_ALIVE_TIMEOUT_SECONDS). A product is late at half of it, and a server start-up shorter
// than it is no outage.
export function aliveTimeoutMs() {
  const sent = board.health ? Number(board.health.alive_timeout_ms) : 0;
  return sent > 0 ? sent : ALIVE_TIMEOUT_MS;
}

export function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

// What the trader sees for a line: the feed's own status first, then what stops it from outside.
export function lineState(entry) {
  const line = entry.line;
  if (CLOSED.has(line.status)) return [line.status, line.status, line.updated_at];
  if (entry.event.cancelled) return ["suspended", "fixture_cancelled", entry.event.cancelledAt];
  if (line.status === "handed_over") return ["handed_over", "handed_over", line.updated_at];
  if (line.status === "suspended" && line.reason === FEED_GAP) {
    // While its product is still down, that says more; then it waits for fresh odds.
    const down = lineProducts(line).find((product) => !productUp(product));
    if (board.synced && down !== undefined) return ["suspended", "feed_down", downSince(down)];
    return ["suspended", "feed_gap", entry.gapSince];
  }
  if (line.status === "suspended") return ["suspended", line.reason ? "bet_stop" : "suspended", line.updated_at];
  if (line.status !== "active") return ["suspended", "suspended", line.updated_at]; // unknown: fail safe
  if (!board.synced) return ["suspended", "reconnecting", board.disconnectedAt];
  const down = lineProducts(line).find((product) => !productUp(product));
  if (down !== undefined) return ["suspended", "feed_down", downSince(down)];
  return ["active", "", 0];
}

// Every product that fed the line rules it: a prematch update never frees a live line from
// live health. Older servers sent only `product`.
export function lineProducts(line) {
  return Array.isArray(line.products) && line.products.length ? line.products : [line.product];
}

export function productUp(product) {
  const health = board.health;
  return Boolean(health && health.connected && health.products[product] && health.products[product].up);
}

function downSince(product) {
  const outage = board.outages[product];
  return outage ? outage.since : Date.now();
}
