// The traders' market board: applies the relay's /ws messages in order, touching only what changed.
//
// Idle cost matters as much as speed: a board stays open all day. Nothing here animates per
// frame. Odds flashes and card flashes are one class each, taken off by one shared sweep timer;
// the only per-second work is the live counters of the stopped lines on screen and the banner.

import {
  clock, competitors, duration, groupWords, KIND_WORDS, PRODUCTS, reasonWords, specText, sportName,
  START, statusWords, withEntities,
} from "./words.js";
import {
  $, board, CANCELLED_FIXTURE, CLOSED, el, FEED_GAP, lineKey, lineProducts, lineState, productUp,
  setText, STARTUP_GRACE_MS, STOPPED,
} from "./state.js";
import {
  addSportOption, applyFilter, applyFilters, dirtyEvents, holdBoard, order, paintExpanded, paintPin,
  scheduleCount, scheduleOrder, toggleExpanded, togglePin,
} from "./finding.js";
import {
  betStop, flash, heldRecords, holdLog, insertLog, lineLeftStop, logBetStop, logOutage, openHistory,
  paintLogWaiting, releaseLog, stopRecords, sweep, trackOutages,
} from "./alerts.js";
import { paintAliveAges, paintBanner, paintOutageBanner } from "./banner.js";
import { onKey } from "./keys.js";
import { setUpControls } from "./prefs.js";

const FLASH_MS = 2500; // off at the next clock tick after: 2.5 to 3.5 s
const TINT_MS = 1000; // an odds move's tint: long enough to catch the eye, short enough to read

// The market a dense row shows for an event: the first of these the event has, else its first.
const MAIN_MARKETS = [1, 186, 219, 406, 251, 340, 610, 11, 18, 16];

// Connection ---------------------------------------------------------------------------------

function connect() {
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
function watchdog(now) {
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
  stopRecords.clear();
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
        groups: entry.groups, reason: "", since: entry.sent_at || entry.received_at,
        total: entry.lines_hit, keys: null, at: entry.sent_at,
      } : null;
      dirtyEvents.add(event);
    }
    logBetStop(entry.event_id, entry.received_at, entry.groups, entry.status, entry.lines_hit, "", null);
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

// Events -------------------------------------------------------------------------------------

function upsertEvent(event) {
  let entry = board.events.get(event.event_id);
  if (!entry) entry = createEvent(event);
  const before = entry.event;
  entry.event = event;
  const article = entry.el;
  const names = competitors(event);
  const renamed = before && (before.name !== event.name ||
    names[0] !== entry.competitors[0] || names[1] !== entry.competitors[1]);
  entry.competitors = names;
  if (String(article.dataset.product) !== String(event.product)) article.dataset.product = event.product;
  const sport = sportName(event.sport);
  if (sport && sport !== entry.sport) addSportOption(sport);
  entry.sport = sport;
  entry.search = [event.name, event.event_id, sport].join(" ").toLowerCase();
  setText(entry.badge, PRODUCTS[event.product] || `Product ${event.product}`);
  const badgeClass = `badge ${event.product === 1 ? "live" : "prematch"}`;
  if (entry.badge.className !== badgeClass) entry.badge.className = badgeClass;
  setText(entry.name, event.name || event.event_id);
  // The feed carries no competition, clock or period (see the README): the sport alone.
  setText(entry.sub, sport);
  const cancelled = CANCELLED_FIXTURE.has(String(event.status || "").toLowerCase());
  if (cancelled !== entry.cancelled) {
    entry.cancelled = cancelled;
    entry.cancelledAt = cancelled ? Date.now() : 0;
    article.classList.toggle("cancelled", cancelled);
    for (const line of entry.lines) paintLine(line);
    scheduleCount();
  }
  paintEventMeta(entry);
  paintNotice(entry);
  if (renamed) relabel(entry);
  if (before && (before.product !== event.product || before.start_time !== event.start_time ||
      before.sport !== event.sport)) scheduleOrder();
  applyFilter(entry);
  return entry;
}

function createEvent(event) {
  const article = $("event-template").content.firstElementChild.cloneNode(true);
  article.dataset.eventId = event.event_id;
  const entry = {
    event: null, el: article, blocks: new Map(), lines: new Set(), stoppedLines: new Set(),
    shownStopped: -1, lastStop: 0, mainRank: Infinity, mainBlock: null,
    cancelled: false, cancelledAt: 0, competitors: [null, null], sport: "", search: "",
    badge: article.querySelector(".badge"), name: article.querySelector(".event-name"),
    sub: article.querySelector(".event-sub"), meta: article.querySelector(".event-meta"),
    count: article.querySelector(".event-stopped"), notice: article.querySelector(".event-notice"),
    stopNote: article.querySelector(".event-why"), stop: null, // its latest BetStop that hit lines
    markets: article.querySelector(".markets"), expand: article.querySelector(".expand"), late: false,
  };
  article.querySelector(".pin").addEventListener("click", () => togglePin(entry));
  article.querySelector(".history-button").addEventListener("click", () => openHistory(entry));
  article.querySelector(".expand").addEventListener("click", () => toggleExpanded(entry));
  if (board.pinned.has(event.event_id)) paintPin(entry, true);
  paintExpanded(entry);
  board.events.set(event.event_id, entry);
  $("events").append(article);
  if (observer) observer.observe(article);
  scheduleOrder();
  return entry;
}

function paintEventMeta(entry) {
  const event = entry.event;
  const parts = [];
  if (event.home_score !== null && event.home_score !== undefined) {
    parts.push(`${event.home_score} – ${event.away_score ?? 0}`);
  }
  const words = statusWords(event.status);
  if (event.product === 1 || !event.start_time) {
    if (words) parts.push(words);
  } else {
    if (words && words !== "Not started") parts.push(words);
    parts.push(START.format(new Date(event.start_time)));
  }
  setText(entry.meta, parts.join(" · "));
  const late = event.product === 3 && Boolean(event.start_time) && event.start_time < Date.now() &&
    !entry.cancelled;
  if (late !== entry.late) {
    entry.late = late;
    entry.el.classList.toggle("late", late);
    paintNotice(entry);
  }
}

function paintNotice(entry) {
  let text = "";
  if (entry.cancelled) text = `Fixture cancelled${entry.cancelledAt ? ` (seen ${clock(entry.cancelledAt)})` : ""}: nothing on it can be bet`;
  else if (entry.late) text = `Start time passed (${START.format(new Date(entry.event.start_time))}) and still prematch`;
  setText(entry.notice, text);
  entry.notice.hidden = !text;
}

function relabel(entry) {
  for (const li of $("bet-stop-log").children) {
    if (li.dataset.eventId === entry.event.event_id) setText(li.querySelector(".log-event"), entry.event.name || entry.event.event_id);
  }
  for (const block of entry.blocks.values()) setText(block.heading, withEntities(block.name, entry));
  for (const line of entry.lines) {
    for (const [id, cell] of line.cells) {
      const outcome = line.line.outcomes[id];
      setText(cell.name, withEntities((outcome && outcome.name) || id, entry));
    }
  }
}

function eventEntry(line) {
  return board.events.get(line.event_id) ||
    upsertEvent({ event_id: line.event_id, product: line.product, name: "", start_time: null });
}

// Lines --------------------------------------------------------------------------------------

function upsertLine(line, reason, gapAt = 0) {
  const key = lineKey(line);
  let entry = board.lines.get(key);
  if (!entry) {
    entry = createLine(line);
    board.lines.set(key, entry);
  }
  const previous = entry.line;
  entry.line = line;
  if (entry.event.stop && (!previous || previous.status !== line.status)) dirtyEvents.add(entry.event);
  if (previous && STOPPED.has(previous.status) && !STOPPED.has(line.status) && stopRecords.size) lineLeftStop(key, line);
  entry.reason = reason || reasonWords(line) || (previous && line.status === previous.status ? entry.reason : "");
  const gap = line.status === "suspended" && line.reason === FEED_GAP;
  entry.gapSince = gap ? gapAt || (previous && previous.reason === FEED_GAP ? entry.gapSince : 0) : 0;
  for (const [id, outcome] of Object.entries(line.outcomes)) {
    let cell = entry.cells.get(id);
    if (!cell) {
      cell = { el: el("span", "outcome"), name: el("span", "oname"), odds: el("span", "odds") };
      cell.el.dataset.outcomeId = id;
      cell.el.append(cell.name, cell.odds);
      entry.cellsEl.append(cell.el);
      entry.cells.set(id, cell);
    }
    const was = previous && previous.outcomes[id];
    // A name changes only with the outcome's own, or with the event's (relabel redraws those).
    if (!was || was.name !== outcome.name) setText(cell.name, withEntities(outcome.name || id, entry.event));
    paintOdds(cell, outcome.odds, was ? was.odds : null);
    const off = outcome.active === false;
    if (cell.el.classList.contains("off") !== off) cell.el.classList.toggle("off", off);
  }
  paintLine(entry);
}

function createLine(line) {
  const event = eventEntry(line);
  const name = line.name || `Market ${line.market_id}`;
  const blockKey = `${line.market_id}\u0000${name}`;
  let block = event.blocks.get(blockKey);
  if (!block) {
    block = { el: el("section", "market"), heading: el("h3", "market-name"), name, shown: 0 };
    block.el.dataset.marketId = line.market_id;
    setText(block.heading, withEntities(name, event));
    block.el.append(block.heading);
    event.blocks.set(blockKey, block);
    event.markets.append(block.el);
    const rank = MAIN_MARKETS.indexOf(line.market_id);
    const score = rank < 0 ? 100 + event.blocks.size : rank;
    if (score < event.mainRank) {
      if (event.mainBlock) event.mainBlock.el.classList.remove("main");
      event.mainRank = score;
      event.mainBlock = block;
      block.el.classList.add("main");
    }
  }
  const row = el("div", "line");
  row.tabIndex = 0;
  row.dataset.eventId = line.event_id;
  row.dataset.marketId = line.market_id;
  row.dataset.specifiers = line.specifiers;
  const entry = {
    line: null, el: row, event, block, cells: new Map(), cellsEl: el("span", "cells"),
    state: el("span", "state"), why: null, since: null, for: null,
    status: "", kind: "", sinceMs: 0, shown: false, stopped: false, reason: "",
  };
  row.append(el("span", "spec", specText(line.specifiers, withEntities(name, event))), entry.cellsEl, entry.state);
  block.el.append(row);
  event.lines.add(entry);
  return entry;
}

function paintLine(entry) {
  const { el: row, line } = entry;
  const [status, kind, since] = lineState(entry);
  if (row.dataset.status !== status) row.dataset.status = status;
  if (row.dataset.product !== String(line.product)) row.dataset.product = line.product;
  if (status === "active") row.removeAttribute("aria-disabled");
  else if (row.getAttribute("aria-disabled") !== "true") row.setAttribute("aria-disabled", "true");
  entry.status = status;
  const why = whyText(entry, kind);
  if (kind !== entry.kind || why !== entry.whyText || since !== entry.sinceMs) {
    entry.kind = kind;
    entry.whyText = why;
    entry.sinceMs = since;
    if (kind) row.dataset.stop = kind;
    else delete row.dataset.stop;
    paintState(entry, why, since);
    row.title = kind ? `${why}${since ? ` since ${clock(since)}` : ""}` : "";
  }
  const stopped = STOPPED.has(status);
  if (stopped !== entry.stopped) {
    entry.stopped = stopped;
    if (stopped) entry.event.stoppedLines.add(entry);
    else entry.event.stoppedLines.delete(entry);
    dirtyEvents.add(entry.event);
  }
  const shown = !CLOSED.has(status);
  if (shown !== entry.shown) {
    entry.shown = shown;
    entry.block.shown += shown ? 1 : -1;
    // A market whose lines are all closed shows no empty heading (unless closed lines are shown).
    entry.block.el.classList.toggle("all-closed", entry.block.shown === 0);
  }
}

function whyText(entry, kind) {
  if (!kind) return "";
  if (kind === "feed_down") {
    const reason = board.health && board.health.reason; // e.g. "relay link down"
    return reason ? String(reason).slice(0, 80) : `${PRODUCTS[entry.line.product] || "Product"} feed down`;
  }
  if (kind === "bet_stop") {
    return [`BetStop: ${groupWords(entry.line.reason)}`, entry.reason].filter(Boolean).join(" · ");
  }
  if (kind === "suspended") return [KIND_WORDS.suspended, entry.reason].filter(Boolean).join(" · ");
  return KIND_WORDS[kind] || kind;
}

function paintState(entry, why, since) {
  if (!entry.why) {
    if (!why) return;
    entry.why = el("b", "why");
    entry.since = el("time", "since");
    entry.for = el("span", "for");
    const when = el("small", "when");
    when.append(entry.since, entry.for);
    entry.state.append(entry.why, when);
  }
  setText(entry.why, why);
  setText(entry.since, since ? clock(since) : "");
  paintCounter(entry, Date.now());
}

function paintCounter(entry, now) {
  if (!entry.for) return;
  const live = STOPPED.has(entry.status);
  setText(entry.for, live && entry.sinceMs && now - entry.sinceMs < 86400000 && now >= entry.sinceMs - 60000
    ? duration(now - entry.sinceMs) : "");
}

function paintOdds(cell, odds, before) {
  const text = odds === null || odds === undefined ? "–" : odds.toFixed(2);
  setText(cell.odds, text);
  if (before === null || before === undefined || odds === null || odds === undefined || odds === before) return;
  if (!board.moves) return;
  const up = odds > before;
  cell.el.dataset.move = up ? "up" : "down"; // the arrow; the sweep takes it off with the class
  flash(cell.el, up ? "flash-up" : "flash-down", up ? "flash-down" : "flash-up", FLASH_MS);
  tint(cell.el);
}

// Tints last about a second, shorter than the clock's tick: one timer for all of them, set for
// the next to end; odds arrive in batches, so a batch's tints end together.
const tints = new Map(); // element -> until
let tintTimer = 0;
function tint(node) {
  if (!node.classList.contains("tint")) node.classList.add("tint");
  tints.set(node, Date.now() + TINT_MS);
  if (!tintTimer) tintTimer = setTimeout(sweepTints, TINT_MS);
}
function sweepTints() {
  tintTimer = 0;
  const now = Date.now();
  let next = Infinity;
  for (const [node, until] of tints) {
    if (until <= now) {
      node.classList.remove("tint");
      tints.delete(node);
    } else next = Math.min(next, until);
  }
  if (next !== Infinity) tintTimer = setTimeout(sweepTints, next - now);
}

function repaintAll() {
  for (const entry of board.lines.values()) paintLine(entry);
  scheduleCount();
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

// The cards on screen: the clock repaints only their stopped lines' counters.
const onScreen = new Set();
const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  const now = Date.now();
  for (const change of entries) {
    const entry = board.events.get(change.target.dataset.eventId);
    if (!entry) continue;
    if (change.isIntersecting) {
      onScreen.add(entry);
      for (const line of entry.stoppedLines) paintCounter(line, now);
    } else onScreen.delete(entry);
  }
}, { rootMargin: "200px" }) : null;

// The clock: live counters of the stopped lines on screen, alive ages, outage durations ------

let ticks = 0;
function tick() {
  const now = Date.now();
  watchdog(now);
  sweep(now);
  paintAliveAges();
  paintOutageBanner(now);
  for (const outage of Object.values(board.outages)) {
    if (outage && "quiet" in outage.li.dataset && now - outage.since > STARTUP_GRACE_MS) {
      delete outage.li.dataset.quiet;
      insertLog(outage.li, outage.since, true);
    }
  }
  for (const entry of observer ? onScreen : board.events.values()) {
    for (const line of entry.stoppedLines) paintCounter(line, now);
  }
  if (++ticks % 30 === 0) for (const entry of board.events.values()) if (entry.event.product === 3) paintEventMeta(entry);
}

document.addEventListener("DOMContentLoaded", () => {
  setUpControls();
  const log = $("log");
  log.addEventListener("pointerenter", () => holdLog(true));
  log.addEventListener("pointerleave", () => holdLog(log.contains(document.activeElement)));
  log.addEventListener("focusin", () => holdLog(true));
  log.addEventListener("focusout", (e) => holdLog(log.contains(e.relatedTarget) || log.matches(":hover")));
  $("log-new").addEventListener("click", releaseLog);
  const column = document.querySelector(".board-column");
  column.addEventListener("pointerenter", () => holdBoard(true));
  column.addEventListener("pointerleave", () => holdBoard(false));
  $("sort-now").addEventListener("click", () => order());
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  paintBanner();
  connect();
});

window.marketBoard = board; // for the browser tests and the console
