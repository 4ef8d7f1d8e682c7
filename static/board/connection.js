// Connection and resync: the /ws socket, its watchdog, the queue of messages in order, and the
// whole board again from each snapshot.

import { reasonWords } from "./words.js";
import { $, board, lineKey, lineProducts, productUp } from "./state.js";
import { applyFilters, dirtyEvents, order, scheduleCount } from "./finding.js";
import {
  betStop, heldRecords, insertLog, logBetStop, logOutage, logRecords, paintLogWaiting,
  stopsReopened, trackOutages,
} from "./alerts.js";
import { paintBanner } from "./banner.js";
import { observer, onScreen, paintLine, repaintAll, upsertEvent, upsertLine } from "./render.js";

// Connection ---------------------------------------------------------------------------------

export function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  board.ws = ws;
  board.heardAt = Date.now();
  ws.onmessage = (event) => {
    board.heardAt = Date.now();
    enqueue(JSON.parse(event.data));
  };
  ws.onclose = (event) => {
    if (event.code === 4401) {
      location.assign("/login"); // no session, or it ended: the server says so with 4401
      return;
    }
    if (board.ws !== ws) return;
    flush();
    reconnect();
  };
}

function reconnect() {
  board.ws = null;
  lostSync();
  // Exponential backoff with full jitter, capped at 10 s.
  const delay = Math.random() * Math.min(10000, 500 * 2 ** board.retry++);
  setTimeout(connect, delay);
}

// The server sends health at least every 5 s. A board that hears nothing for longer than
// SILENCE_MS (a half-open connection, a frozen server) cannot know what was stopped meanwhile:
// every line reads suspended and it connects again, without waiting for the dead socket's close.
const SILENCE_MS = 12000;
export function watchdog(now) {
  const ws = board.ws;
  if (!ws || now - board.heardAt <= SILENCE_MS) return;
  ws.onclose = null;
  ws.onmessage = null;
  try { ws.close(4000, "silent"); } catch { /* closing already */ }
  queue.length = 0; // what the silent socket still held is older than the snapshot to come
  board.silentAt = now;
  reconnect();
}

function lostSync() {
  // Until a fresh snapshot, nothing on screen may read as bettable.
  if (board.synced) board.disconnectedAt = Date.now();
  board.synced = false;
  repaintAll();
  paintBanner();
}

// Odds that only move are applied in batches, at most every BATCH_MS: a board taking twenty
// odds changes a second then draws four frames a second, not twenty. Anything that stops or
// closes a line, a BetStop, health, a snapshot, applies at once, with what waits before it.
const BATCH_MS = 250;
const queue = [];
let flushTimer = 0;
function enqueue(message) {
  queue.push(message);
  if (urgent(message)) flush();
  else if (!flushTimer) flushTimer = setTimeout(flush, BATCH_MS);
}

function urgent(message) {
  if (message.type !== "odds_change" && message.type !== "fixture_change") return true;
  for (const line of message.lines || []) if (line.status !== "active") return true;
  return false;
}

function flush() {
  clearTimeout(flushTimer);
  flushTimer = 0;
  for (const message of queue.splice(0)) receive(message);
}

function receive(message) {
  const started = performance.now();
  apply(message);
  // Set board.stats = {apply: []} (a benchmark, the console) to time each message.
  if (board.stats) board.stats.apply.push(performance.now() - started);
}

function apply(message) {
  if (message.type === "snapshot") {
    render(message);
    return;
  }
  if (!board.synced) return;
  if (message.seq !== board.seq + 1) {
    lostSync();
    if (board.ws) board.ws.close(4000, "gap in sequence"); // onclose reconnects and resyncs
    return;
  }
  board.seq = message.seq;
  if (message.type === "health") {
    applyHealth(message.health, message.outages);
  } else if (message.type === "bet_stop_reopened") {
    stopsReopened(message);
  } else {
    if (message.event) upsertEvent(message.event);
    const reason = reasonWords(message.data);
    // A feed gap (a product was down, the feed may have said more meanwhile): when it began.
    const gapAt = message.type === "feed_gap" ? message.received || Date.now() : 0;
    for (const line of message.lines || []) upsertLine(line, reason, gapAt);
    if (message.type === "bet_stop") betStop(message, reason);
  }
  scheduleCount();
}

// Whole board ---------------------------------------------------------------------------------

const FIRST_CHUNK_MS = 40; // enough for the first screens; the rest follows in short chunks
const CHUNK_MS = 8; // so that the page stays responsive, and messages go on applying, meanwhile
let rendering = 0; // which snapshot is being rendered: a newer one stops the older one's chunks

function render(snapshot) {
  $("events").replaceChildren();
  $("bet-stop-log").replaceChildren();
  board.logWaiting = []; // the snapshot's log has them
  board.logDropped = 0;
  logRecords.clear();
  heldRecords.clear();
  paintLogWaiting();
  for (const entry of board.events.values()) if (observer) observer.unobserve(entry.el);
  board.events.clear();
  board.lines.clear();
  onScreen.clear();
  board.seq = snapshot.seq;
  board.synced = true;
  board.retry = 0;
  board.health = snapshot.health;
  board.healthAt = Date.now();
  board.pending = snapshot.lines.length;
  for (const event of snapshot.events) upsertEvent(event);
  // Oldest first: each goes on top, so the newest ends on top.
  for (const entry of snapshot.bet_stops) {
    const event = board.events.get(entry.event_id);
    if (event && (entry.received_at || 0) >= event.lastStop) {
      event.lastStop = entry.received_at || 0;
      // Its lines are those it left stopped with its groups and its stamp (the snapshot does
      // not list them): what still stops them is counted as the lines arrive.
      event.stop = entry.lines_hit ? {
        groups: entry.groups, reason: reasonWords(entry), since: entry.sent_at || entry.received_at,
        total: entry.lines_hit, keys: null, at: entry.sent_at,
      } : null;
      dirtyEvents.add(event);
    }
    logBetStop(entry, "", false);
  }
  // The server's outages replace what the last snapshot said; this page's own stay.
  board.outageItems.clear();
  for (const product of Object.keys(board.outages)) {
    if (board.outages[product] && board.outages[product].server) board.outages[product] = null;
  }
  for (const outage of snapshot.outages || []) logOutage(outage, false);
  for (const li of board.localOutages) insertLog(li, Number(li.dataset.at));
  trackOutages();
  paintBanner();
  applyFilters();
  // In the final order before the first paint, and the lines built in that order: the screens
  // on top are complete in the first chunk and nothing drawn moves afterwards (a sort 100 ms
  // later moved every card: a layout shift of 0.34 on a desktop, 0.91 on a phone).
  order();
  const rank = new Map();
  for (const [at, node] of [...$("events").children].entries()) rank.set(node.dataset.eventId, at);
  const place = (line) => rank.get(line.event_id) ?? Infinity;
  const lines = snapshot.lines.slice().sort((a, b) => place(a) - place(b));
  const generation = ++rendering;
  let next = 0;
  const chunk = (budget) => {
    if (generation !== rendering) return;
    const until = performance.now() + budget;
    while (next < lines.length && performance.now() < until) {
      for (const stop = Math.min(next + 64, lines.length); next < stop; next++) {
        const line = lines[next];
        // A message applied since the snapshot already drew this line, newer than this.
        if (!board.lines.has(lineKey(line))) upsertLine(line, "");
      }
    }
    board.pending = lines.length - next;
    scheduleCount();
    if (board.pending) setTimeout(chunk, 0, CHUNK_MS);
    else board.builtAt = board.builtAt || performance.now(); // the whole first board
  };
  chunk(FIRST_CHUNK_MS);
  if (!board.renderedAt) {
    // The first paint of the board: the frame after its first screens were built.
    requestAnimationFrame(() => { board.renderedAt = board.renderedAt || performance.now(); });
  }
}

// Health -------------------------------------------------------------------------------------

function applyHealth(health, outages) {
  const before = board.health;
  board.health = health;
  board.healthAt = Date.now();
  const changed = new Set();
  for (const product of Object.keys(health.products)) {
    const was = before && before.connected && before.products[product] && before.products[product].up;
    if (Boolean(was) !== productUp(Number(product))) changed.add(Number(product));
  }
  for (const outage of outages || []) logOutage(outage, true);
  trackOutages();
  if (changed.size) {
    for (const entry of board.lines.values()) {
      if (lineProducts(entry.line).some((product) => changed.has(product))) paintLine(entry);
    }
  }
  paintBanner();
}
