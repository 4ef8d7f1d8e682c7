// The traders' market board: applies the relay's /ws messages in order, touching only what changed.
//
// Idle cost matters as much as speed: a board stays open all day. Nothing here animates per
// frame. Odds flashes and card flashes are one class each, taken off by one shared sweep timer;
// the only per-second work is the live counters of the stopped lines on screen and the banner.

import {
  clock, competitors, duration, groupWords, KIND_WORDS, lineCount, PRODUCTS, reasonWords, specText,
  sportName, START, statusWords, timezoneLabel, withEntities,
} from "./words.js";
import {
  $, board, CANCELLED_FIXTURE, CLOSED, el, FEED_GAP, lineKey, lineProducts, lineState, productUp,
  setData, setText, STARTUP_GRACE_MS, STOPPED, store, stored,
} from "./state.js";

const FLASH_MS = 2500; // off at the next clock tick after: 2.5 to 3.5 s
const TINT_MS = 1000; // an odds move's tint: long enough to catch the eye, short enough to read

// The market a dense row shows for an event: the first of these the event has, else its first.
const MAIN_MARKETS = [1, 186, 219, 406, 251, 340, 610, 11, 18, 16];

const MAX_LOG = 50;
const MAX_PINNED = 200;
const CARD_FLASH_MS = 1000;
const LATE_MS = 10000; // no alive for this long: the product is late (amber), before down at 20 s
const HIGHLIGHT_MS = 2000;

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

// The once-a-second clock takes flashes off (see tick in main.js): no animation runs per cell,
// nothing runs per frame, and taking them off costs no frame of its own.
const flashes = new Map(); // element -> [class, until]
function flash(node, className, other, ms) {
  if (other && node.classList.contains(other)) node.classList.remove(other);
  if (!node.classList.contains(className)) node.classList.add(className);
  flashes.set(node, [className, Date.now() + ms]);
}
function sweep(now) {
  for (const [node, [className, until]] of flashes) {
    if (until <= now) {
      node.classList.remove(className);
      flashes.delete(node);
      if (node.dataset.move) delete node.dataset.move; // an odds move's arrow
    }
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

// Outages are entries in the log; an ended one says until when and how long it lasted. The
// server remembers the latest (a snapshot's `outages`, and a health message's as they begin
// and end), so every board shows the same ones, after a reload too.
function logOutage(outage, live) {
  const product = String(outage.product);
  const since = Number(outage.since) || 0;
  const until = Number(outage.until) || 0;
  const reason = outage.reason ? String(outage.reason) : "";
  const key = `${product}\u0000${since}`;
  // A start-up (the server's process has just started) that the feed ends within the grace lost
  // nothing: it is an outage on the banner while it lasts, and an entry only past the grace.
  const quiet = Boolean(outage.startup) && (until || Date.now()) - since <= STARTUP_GRACE_MS;
  let li = board.outageItems.get(key);
  if (!li) {
    li = outageItem(product, since);
    board.outageItems.set(key, li);
    // Bounded: an entry this old is off the log already.
    if (board.outageItems.size > 4 * MAX_LOG) board.outageItems.delete(board.outageItems.keys().next().value);
    if (quiet) li.dataset.quiet = "";
    else insertLog(li, since, live);
  } else if (!quiet && "quiet" in li.dataset) {
    delete li.dataset.quiet;
    insertLog(li, since, live);
  }
  paintOutage(li, product, since, until, reason, Number(outage.duration_ms ?? NaN));
  if (!(product in board.outages)) return;
  const open = board.outages[product];
  if (until) {
    if (open && open.li === li) board.outages[product] = null;
  } else if (!open || open.li !== li) {
    // The server's word replaces what this page noted by itself.
    if (open && !open.server) paintOutage(open.li, product, open.since, since, open.reason);
    board.outages[product] = { since, li, server: true, reason };
    if (live && board.renderedAt) beep();
  }
}

// A product down that the server logs no outage for (a web worker lost its link to the feed
// process; an older server): this page logs it itself, and keeps it while the page is open.
function trackOutages() {
  const health = board.health;
  if (!health) return;
  for (const product of Object.keys(board.outages)) {
    const up = productUp(Number(product));
    const outage = board.outages[product];
    const info = health.products[product] || {};
    if (!up && !outage) {
      const since = Number(info.down_since) || Date.now();
      const reason = String(info.reason || health.reason || "");
      const li = outageItem(product, since);
      board.outages[product] = { since, li, server: false, reason };
      board.localOutages.push(li);
      if (board.localOutages.length > MAX_LOG) board.localOutages.shift();
      paintOutage(li, product, since, 0, reason);
      insertLog(li, since, board.synced);
      if (board.synced && board.renderedAt) beep();
    } else if (up && outage) {
      board.outages[product] = null;
      paintOutage(outage.li, product, outage.since, Date.now(), outage.reason);
    }
  }
}

function outageItem(product, since) {
  const li = el("li", "outage");
  li.dataset.product = product;
  li.dataset.at = since;
  return li;
}

function paintOutage(li, product, since, until, reason, lasted) {
  const what = `${PRODUCTS[product] || `Product ${product}`} feed down`;
  li.classList.toggle("ended", Boolean(until));
  const parts = reason ? [reason.slice(0, 200)] : [];
  parts.push(until ? `until ${clock(until)} · lasted ${duration(Number.isFinite(lasted) ? lasted : until - since)}` : "still down");
  li.replaceChildren(
    el("time", null, clock(since)),
    document.createTextNode(" "),
    el("b", null, what),
    document.createTextNode(` · ${parts.join(" · ")}`),
  );
}

function paintBanner() {
  const banner = $("feed-banner");
  const health = board.health;
  const products = health ? Object.keys(health.products) : [];
  const up = board.synced && health && health.connected && products.every((p) => health.products[p].up);
  banner.dataset.feedStatus = up ? "up" : "down";
  setText(banner.querySelector(".banner-state"), !board.synced
    ? "Reconnecting…" : up ? "Feed connected" : health && health.connected ? "Feed degraded"
      : health && health.reason ? `Feed down: ${health.reason}` : "Feed down");
  setText(banner.querySelector(".health-reason"), healthReasons().join(" · "));
  paintAliveAges();
  paintOutageBanner(Date.now());
  scheduleCount();
}

// Whatever the server says about why (a "reason" on the health report or on a product).
function healthReasons() {
  const health = board.health;
  if (!health) return [];
  const reasons = [];
  if (health.reason) reasons.push(String(health.reason));
  for (const [product, info] of Object.entries(health.products || {})) {
    if (info && info.reason) reasons.push(`${PRODUCTS[product] || product}: ${info.reason}`);
  }
  return reasons.map((r) => r.slice(0, 200));
}

// Each product up, late or down, and the age of its last alive, by this page's clock between
// health messages: up (green) turns late (amber) after LATE_MS without an alive, before the
// server calls it down at 20 s.
function paintAliveAges() {
  const health = board.health;
  const banner = $("feed-banner");
  let late = false;
  for (const chip of banner.querySelectorAll(".product")) {
    const info = health && health.products[chip.dataset.product];
    const age = info && info.alive_age_ms !== null && info.alive_age_ms !== undefined
      ? info.alive_age_ms + (Date.now() - board.healthAt) : null;
    const ok = board.synced && productUp(Number(chip.dataset.product));
    const slow = ok && age !== null && age > LATE_MS;
    late = late || slow;
    setData(chip, "up", String(ok));
    setData(chip, "late", String(slow));
    setText(chip.querySelector(".product-state"), slow ? "late" : ok ? "up" : "down");
    setText(chip.querySelector(".alive-age"), age === null ? noAlive(health, info) : `alive ${Math.round(age / 1000)} s ago`);
  }
  const up = banner.dataset.feedStatus === "up";
  setData(banner, "late", String(up && late));
  if (up) setText(banner.querySelector(".banner-state"), late ? "Feed late" : "Feed connected");
}

// Since when no alive: never, or since the upstream connection dropped or came back (the
// server says `alives_before`), when alives had come before it.
function noAlive(health, info) {
  if (!info || !info.alives_before) return "no alive yet";
  return health.connected ? "no alive since the reconnect" : "no alive since the disconnect";
}

function paintOutageBanner(now) {
  const banner = $("outage-banner");
  const parts = [];
  if (!board.synced) {
    parts.push(`Board disconnected since ${clock(board.disconnectedAt)} (${duration(now - board.disconnectedAt)}): reconnecting, every line reads suspended`);
  } else {
    for (const [product, outage] of Object.entries(board.outages)) {
      if (outage) {
        parts.push(`${(PRODUCTS[product] || `Product ${product}`).toUpperCase()} FEED DOWN since ${clock(outage.since)} (${duration(now - outage.since)}): every ${(PRODUCTS[product] || "").toLowerCase()} line is suspended`);
      }
    }
  }
  const reasons = parts.length ? healthReasons() : [];
  const text = [...parts, ...reasons].join(" — ");
  setText(banner, text);
  if (banner.hidden !== !text) {
    banner.hidden = !text;
    document.body.classList.toggle("outage-on", Boolean(text));
  }
}

// BetStop log, alerts ------------------------------------------------------------------------

function betStop(message, reason) {
  // The log entry's one shape (`entry`), as the snapshot's; older servers sent only the data.
  const log = message.entry || {};
  const data = message.data || {};
  const eventId = log.event_id ?? data.event_id;
  const entry = board.events.get(eventId);
  const received = log.received_at || message.received || Date.now();
  if (entry) {
    entry.lastStop = received;
    if ((message.lines || []).length) {
      entry.stop = {
        groups: data.groups || "all", reason, since: message.lines[0].updated_at || received,
        total: message.lines.length, keys: new Set(message.lines.map(lineKey)), at: 0,
      };
      dirtyEvents.add(entry);
    }
    flash(entry.el, "stop-flash", null, CARD_FLASH_MS);
    if (board.sort === "bet-stop") scheduleStopOrder();
  }
  logBetStop(eventId, received, log.groups || data.groups || "all", log.status || message.status,
    log.lines_hit ?? (message.lines || []).length, reason, message.lines || []);
  beep();
}

// A log entry says what a trader reviews: the groups and why, the markets hit and, for a BetStop
// this page saw arrive (`hit`: its lines), how many are still stopped, then when the last
// reopened and after how long. The server's log (the snapshot's, History) records the groups
// and the count of lines only.
function logBetStop(eventId, at, groups, status, hits, reason, hit) {
  const live = Boolean(hit);
  const entry = board.events.get(eventId);
  const li = el("li", "bet-stop");
  li.dataset.eventId = eventId;
  li.dataset.at = at || 0;
  const jump = el("button", "log-jump");
  jump.type = "button";
  jump.append(el("time", null, clock(at)), document.createTextNode(" "),
    el("b", "log-event", entry && entry.event.name ? entry.event.name : String(eventId)));
  jump.addEventListener("click", () => goToEvent(eventId));
  const text = [groupWords(groups), reason, status].filter(Boolean);
  li.append(jump, document.createTextNode(` · ${text.join(" · ")}`));
  li.dataset.hits = Number(hits) || 0;
  const record = { li, detail: el("span", "log-detail"), hits: Number(hits) || 0, lines: null, since: 0 };
  li.append(record.detail);
  if (live && hit.length && entry) {
    record.lines = new Map();
    for (const line of hit) record.lines.set(lineKey(line), true); // key -> still stopped
    record.since = hit[0].updated_at || at;
    record.markets = [...new Set(hit.map((line) => withEntities(line.name || `Market ${line.market_id}`, entry)))];
    stopRecords.add(record);
    while (stopRecords.size > MAX_LOG) stopRecords.delete(stopRecords.values().next().value);
  }
  paintRecord(record);
  if (entry) li.hidden = entry.el.hidden;
  insertLog(li, at || 0, live);
}

const stopRecords = new Set(); // the log's live entries whose lines are not all reopened

function paintRecord(record) {
  const parts = [lineCount(record.hits)];
  if (record.lines) {
    const names = record.markets.slice(0, 3).join(", ");
    const more = record.markets.length > 3 ? ` +${record.markets.length - 3} more` : "";
    parts[0] += `: ${names}${more}`;
    let still = 0;
    for (const stopped of record.lines.values()) if (stopped) still++;
    if (still) parts.push(`${still} of ${record.lines.size} still stopped`);
    else if (record.reopenedAt) {
      parts.push(`reopened ${clock(record.reopenedAt)} after ${duration(record.reopenedAt - record.since)}`);
    } else parts.push("closed"); // settled, cancelled or deactivated: none reopened
  }
  setText(record.detail, ` · ${parts.join(" · ")}`);
}

// A line of a live entry left its stop: reopened (active again), or closed. The entry is
// repainted at once unless the log is held, then when it is let go.
function lineLeftStop(key, line) {
  for (const record of stopRecords) {
    if (!record.lines.get(key)) continue;
    record.lines.set(key, false);
    if (line.status === "active") record.reopenedAt = Math.max(record.reopenedAt || 0, line.updated_at || Date.now());
    if (![...record.lines.values()].some(Boolean)) stopRecords.delete(record);
    if (board.logHeld) heldRecords.add(record);
    else paintRecord(record);
  }
}
const heldRecords = new Set();

// A trader aims at an entry and clicks it most of a second later: at 1.6 entries a second, an
// entry inserted above meanwhile moved the list under the pointer, and the click opened another
// event. While the pointer or the focus is on the log, new entries wait behind "N new".
function insertLog(li, at, live) {
  if (live && board.logHeld) {
    board.logWaiting.push([li, at]);
    // Bounded: the log keeps MAX_LOG entries, so older ones waiting would be pushed out anyway.
    if (board.logWaiting.length > MAX_LOG) {
      board.logWaiting.shift();
      board.logDropped++;
    }
    paintLogWaiting();
    return;
  }
  const log = $("bet-stop-log");
  let before = log.firstElementChild;
  while (before && Number(before.dataset.at) > at) before = before.nextElementSibling;
  log.insertBefore(li, before);
  while (log.childElementCount > MAX_LOG) {
    const last = log.lastElementChild;
    if (Object.values(board.outages).some((o) => o && o.li === last)) break; // never drop a live outage
    last.remove();
  }
  if (li.classList.contains("outage")) li.hidden = Boolean($("product-filter").value) && $("product-filter").value !== li.dataset.product;
}

function holdLog(held) {
  board.logHeld = held;
  if (!held) releaseLog();
}

function releaseLog() {
  for (const record of heldRecords) paintRecord(record);
  heldRecords.clear();
  board.logDropped = 0;
  for (const [li, at] of board.logWaiting.splice(0)) {
    const entry = board.events.get(li.dataset.eventId);
    if (entry) li.hidden = entry.el.hidden; // the filters may have changed while it waited
    insertLog(li, at, false);
  }
  paintLogWaiting();
}

function shownInLog(li) {
  return !li.hidden && !($("log-hits-only").checked && li.dataset.hits === "0");
}

function paintLogWaiting() {
  const button = $("log-new");
  const count = board.logWaiting.filter(([li]) => shownInLog(li)).length + board.logDropped;
  setText(button, `${count} new`);
  if (button.hidden !== !count) button.hidden = !count;
}

function goToEvent(eventId) {
  const entry = board.events.get(eventId);
  if (!entry || entry.el.hidden) return;
  entry.el.scrollIntoView({ block: "center" });
  entry.el.focus({ preventScroll: true });
  flash(entry.el, "highlight", null, HIGHLIGHT_MS);
}

let audio = null;
let lastBeep = 0;
function beep() {
  if (!$("sound").checked || Date.now() - lastBeep < 1000) return;
  lastBeep = Date.now();
  board.sounds++;
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.12, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.18);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.2);
  } catch { /* no audio device: the card still flashes */ }
}

async function openHistory(entry) {
  const dialog = $("history");
  const list = dialog.querySelector(".history-list");
  const state = dialog.querySelector(".history-state");
  setText($("history-title"), `BetStops of ${entry.event.name || entry.event.event_id}`);
  list.replaceChildren();
  setText(state, "Loading…");
  if (!dialog.open) dialog.showModal();
  try {
    const answer = await fetch(`/feed/bet-stops?event_id=${encodeURIComponent(entry.event.event_id)}&limit=100`);
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const { bet_stops: stops } = await answer.json();
    setText(state, stops.length ? `${stops.length} BetStop${stops.length === 1 ? "" : "s"}, newest first` : "No BetStop for this event yet.");
    for (const stop of stops) {
      const li = el("li");
      li.append(el("time", null, clock(stop.received_at)), el("b", null, ` ${entry.event.name || stop.event_id}`),
        document.createTextNode(` · ${groupWords(stop.groups)} · ${stop.status} · ${lineCount(stop.lines_hit)}`));
      list.append(li);
    }
  } catch (error) {
    setText(state, `Could not load the history: ${error.message}`);
  }
}

// Finding things: filters, count, order -------------------------------------------------------

function matches(entry) {
  const product = $("product-filter").value;
  const sport = $("sport-filter").value;
  const text = $("event-search").value.trim().toLowerCase();
  return !((product && String(entry.event.product) !== product) ||
    (sport && entry.sport !== sport) || (text && !entry.search.includes(text)));
}

function applyFilter(entry) {
  const hidden = !matches(entry);
  if (entry.el.hidden !== hidden) {
    entry.el.hidden = hidden;
    for (const li of $("bet-stop-log").children) {
      if (li.dataset.eventId === entry.event.event_id) li.hidden = hidden;
    }
    scheduleCount();
  }
}

function applyFilters() {
  for (const entry of board.events.values()) {
    entry.el.hidden = !matches(entry);
  }
  const product = $("product-filter").value;
  for (const li of $("bet-stop-log").children) {
    if (li.classList.contains("outage")) li.hidden = Boolean(product) && product !== li.dataset.product;
    else {
      const entry = board.events.get(li.dataset.eventId);
      li.hidden = entry ? entry.el.hidden : Boolean(product || $("sport-filter").value || $("event-search").value.trim());
    }
  }
  order(); // its group headings follow the filters
  scheduleCount();
}

function addSportOption(sport) {
  const select = $("sport-filter");
  for (const option of select.options) if (option.value === sport) return;
  const option = el("option", null, sport);
  option.value = sport;
  let before = null;
  for (const other of select.options) if (other.value && other.value > sport) { before = other; break; }
  select.insertBefore(option, before);
}

const dirtyEvents = new Set();
let countPending = false;
function scheduleCount() {
  if (countPending) return;
  countPending = true;
  requestAnimationFrame(paintCount);
}

let shownTitle = "";
let shownIcon = "";
function paintCount() {
  countPending = false;
  for (const entry of dirtyEvents) {
    const count = entry.stoppedLines.size;
    if (entry.shownStopped !== count) {
      entry.shownStopped = count;
      setText(entry.count, count ? `${count} stopped` : "");
      entry.el.classList.toggle("has-stopped", count > 0);
    }
    const text = stopNote(entry);
    setText(entry.stopNote, text);
    if (entry.stopNote.title !== text) entry.stopNote.title = text;
  }
  dirtyEvents.clear();
  let stopped = 0;
  let visible = 0;
  for (const entry of board.events.values()) {
    if (!entry.el.hidden) {
      stopped += entry.stoppedLines.size;
      visible++;
    }
  }
  setText($("suspended-count"), String(stopped));
  const filtering = $("product-filter").value || $("sport-filter").value || $("event-search").value.trim();
  const noMatch = $("no-match");
  const none = Boolean(filtering) && visible === 0 && board.events.size > 0;
  if (noMatch.hidden !== !none) noMatch.hidden = !none;
  if (none) setText(noMatch, `No event matches the filters${$("event-search").value.trim() ? ` and “${$("event-search").value.trim()}”` : ""}.`);
  // The tab says it when the trader is looking elsewhere.
  const down = Object.entries(board.outages).filter(([, o]) => o).map(([p]) => PRODUCTS[p] || p);
  const parts = [];
  if (!board.synced) parts.push("Reconnecting");
  if (down.length) parts.push(`${down.join(" + ")} DOWN`);
  if (stopped) parts.push(`${stopped} stopped`);
  const title = parts.length ? `${parts.join(" · ")} — Market board` : "Market board";
  if (title !== shownTitle) document.title = shownTitle = title;
  const icon = !board.synced || down.length ? "down" : stopped ? "stopped" : "ok";
  if (icon !== shownIcon) {
    shownIcon = icon;
    const link = $("favicon");
    link.href = link.dataset[icon];
    document.documentElement.dataset.alert = icon;
  }
}

// The order changes by itself (a new event, a prematch event going live, a BetStop in the
// "latest BetStop first" sort) only while the pointer is off the board: a card must not move
// from under a trader's aim. Sorted by the latest BetStop, at most every SORT_EVERY_MS: at a
// BetStop a second, the top of the board reshuffled every second. "Sort now" sorts at once.
const SORT_EVERY_MS = 10000;
// "BetStop: all · since 10:26:27 · 1 of 8 still stopped": of the lines the event's latest
// BetStop hit, those that no odds change has reopened since. None left: no note.
function stopNote(entry) {
  const stop = entry.stop;
  if (!stop) return "";
  let still = 0;
  for (const line of entry.lines) {
    const hit = stop.keys ? stop.keys.has(lineKey(line.line))
      : line.line.reason === stop.groups && line.line.updated_at === stop.at;
    if (hit && STOPPED.has(line.line.status)) still++;
  }
  if (!still) {
    if (!board.pending) entry.stop = null; // else its lines may not be built yet
    return "";
  }
  return [`BetStop: ${groupWords(stop.groups)}`, stop.reason, `since ${clock(stop.since)}`,
    `${still} of ${Math.max(still, stop.total)} still stopped`].filter(Boolean).join(" · ");
}

let orderTimer = 0;
let orderAt = 0;
function scheduleOrder(delay = 100) {
  const at = Date.now() + delay;
  if (orderTimer && orderAt <= at) return;
  clearTimeout(orderTimer);
  orderAt = at;
  orderTimer = setTimeout(() => order(false), delay);
}

function scheduleStopOrder() {
  board.orderDue = true;
  paintSortNow();
  scheduleOrder(Math.max(100, board.orderedAt + SORT_EVERY_MS - Date.now()));
}

function holdBoard(held) {
  board.boardHeld = held;
  if (!held && board.orderDue) {
    if (board.sort === "bet-stop") scheduleStopOrder();
    else scheduleOrder();
  }
}

function paintSortNow() {
  const button = $("sort-now");
  if (board.orderDue) button.dataset.due = "";
  else delete button.dataset.due;
}

function compareEvents(a, b) {
  const pinned = Number(board.pinned.has(b.event.event_id)) - Number(board.pinned.has(a.event.event_id));
  if (pinned) return pinned;
  if ($("group-sport").checked && a.sport !== b.sport) {
    return (a.sport || "~").localeCompare(b.sport || "~");
  }
  if (board.sort === "bet-stop" && a.lastStop !== b.lastStop) return b.lastStop - a.lastStop;
  const live = Number(b.event.product === 1) - Number(a.event.product === 1);
  if (live) return live;
  const start = (a.event.start_time || Infinity) - (b.event.start_time || Infinity);
  if (start) return start;
  return String(a.event.name || a.event.event_id).localeCompare(String(b.event.name || b.event.event_id));
}

// Moves only the cards that are out of place, so the order costs nothing when nothing changed.
// `asked`: the trader's own doing (a sort, a pin, a filter, Sort now), done under the pointer.
function order(asked = true) {
  clearTimeout(orderTimer);
  orderTimer = 0;
  if (!asked && board.boardHeld) {
    board.orderDue = true;
    paintSortNow();
    return;
  }
  board.orderDue = false;
  board.orderedAt = Date.now();
  paintSortNow();
  const container = $("events");
  const sorted = [...board.events.values()].sort(compareEvents);
  const wanted = [];
  const grouping = $("group-sport").checked;
  let group = null;
  for (const entry of sorted) {
    const pinned = board.pinned.has(entry.event.event_id);
    const heading = pinned ? "Pinned" : grouping ? entry.sport || "Other" : null;
    if (heading !== null && heading !== group && !entry.el.hidden) {
      group = heading;
      wanted.push(groupHeading(heading));
    }
    wanted.push(entry.el);
  }
  let current = container.firstElementChild;
  for (const node of wanted) {
    if (node === current) current = current.nextElementSibling;
    else container.insertBefore(node, current);
  }
  while (current) {
    const next = current.nextElementSibling;
    current.remove(); // a group heading no longer wanted
    current = next;
  }
}

const headings = new Map();
function groupHeading(text) {
  let heading = headings.get(text);
  if (!heading) {
    heading = el("h2", "group-head", text);
    headings.set(text, heading);
  }
  return heading;
}

function togglePin(entry) {
  const id = entry.event.event_id;
  const pinned = !board.pinned.has(id);
  if (pinned) board.pinned.add(id);
  else board.pinned.delete(id);
  while (board.pinned.size > MAX_PINNED) board.pinned.delete(board.pinned.values().next().value);
  store("pinned", JSON.stringify([...board.pinned]));
  paintPin(entry, pinned);
  order();
}

function paintPin(entry, pinned) {
  const button = entry.el.querySelector(".pin");
  button.setAttribute("aria-pressed", String(pinned));
  button.textContent = pinned ? "Pinned" : "Pin";
  entry.el.classList.toggle("pinned", pinned);
}

// The dense view opens a row to every market; the card view folds a card to its main market.
// Each view keeps its own choice; Enter and the Markets button toggle the one on screen.
const denseView = () => $("events").classList.contains("dense");

function toggleExpanded(entry) {
  const id = entry.el.dataset.eventId;
  const chosen = denseView() ? board.expanded : board.folded;
  if (chosen.has(id)) chosen.delete(id);
  else chosen.add(id);
  paintExpanded(entry);
}

function paintExpanded(entry) {
  const id = entry.el.dataset.eventId;
  const expanded = board.expanded.has(id);
  const folded = board.folded.has(id);
  if (entry.el.classList.contains("expanded") !== expanded) entry.el.classList.toggle("expanded", expanded);
  if (entry.el.classList.contains("folded") !== folded) entry.el.classList.toggle("folded", folded);
  const open = String(denseView() ? expanded : !folded);
  if (entry.expand.getAttribute("aria-expanded") !== open) entry.expand.setAttribute("aria-expanded", open);
}

function stepEvent(step) {
  const cards = [...$("events").querySelectorAll(".event:not([hidden])")];
  if (!cards.length) return;
  const current = document.activeElement && document.activeElement.closest(".event");
  const at = cards.indexOf(current);
  const next = cards[at < 0 ? (step > 0 ? 0 : cards.length - 1) : Math.min(cards.length - 1, Math.max(0, at + step))];
  next.focus({ preventScroll: true });
  next.scrollIntoView({ block: "nearest" });
}

function onKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, select, textarea, dialog")) {
    if (event.key === "Escape" && target.id === "event-search") target.blur();
    return;
  }
  if (event.key === "/") {
    event.preventDefault();
    $("event-search").focus();
    $("event-search").select();
  } else if (event.key === "j" || event.key === "k") {
    event.preventDefault();
    stepEvent(event.key === "j" ? 1 : -1);
  } else if (event.key === "Enter" && target.classList.contains("event")) {
    event.preventDefault();
    const entry = board.events.get(target.dataset.eventId);
    if (entry) toggleExpanded(entry);
  }
}

const THEMES = ["auto", "dark", "light"];
function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  setText($("theme"), `Theme: ${theme}`);
  $("theme").dataset.value = theme;
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
  try {
    for (const id of JSON.parse(stored("pinned", "[]"))) if (typeof id === "string") board.pinned.add(id);
  } catch { /* a damaged entry: start with no pins */ }
  $("timezone").textContent = timezoneLabel();
  $("product-filter").addEventListener("change", applyFilters);
  $("sport-filter").addEventListener("change", applyFilters);
  $("event-search").addEventListener("input", applyFilters);
  $("sort").value = stored("sort", "live") === "bet-stop" ? "bet-stop" : "live";
  board.sort = $("sort").value;
  $("sort").addEventListener("change", () => { board.sort = $("sort").value; store("sort", board.sort); order(); });
  $("group-sport").checked = stored("group", "0") === "1";
  $("group-sport").addEventListener("change", () => { store("group", $("group-sport").checked ? "1" : "0"); order(); });
  $("dense").checked = stored("dense", "0") === "1";
  $("events").classList.toggle("dense", $("dense").checked);
  $("dense").addEventListener("change", () => {
    $("events").classList.toggle("dense", $("dense").checked);
    store("dense", $("dense").checked ? "1" : "0");
    for (const entry of board.events.values()) paintExpanded(entry);
  });
  $("show-closed").addEventListener("change", (e) => document.body.classList.toggle("show-closed", e.target.checked));
  $("sound").checked = stored("sound", "0") === "1";
  $("sound").addEventListener("change", () => {
    store("sound", $("sound").checked ? "1" : "0");
    if ($("sound").checked) {
      try { audio = audio || new AudioContext(); audio.resume(); } catch { /* no audio */ }
    }
  });
  $("odds-moves").checked = stored("moves", "1") === "1";
  board.moves = $("odds-moves").checked;
  $("odds-moves").addEventListener("change", () => {
    board.moves = $("odds-moves").checked;
    store("moves", board.moves ? "1" : "0");
  });
  const theme = stored("theme", "auto");
  applyTheme(THEMES.includes(theme) ? theme : "auto");
  $("theme").addEventListener("click", () => {
    const next = THEMES[(THEMES.indexOf($("theme").dataset.value) + 1) % THEMES.length];
    store("theme", next);
    applyTheme(next);
  });
  $("controls-toggle").addEventListener("click", () => {
    const open = !$("bar").classList.contains("controls-open");
    $("bar").classList.toggle("controls-open", open);
    $("controls-toggle").setAttribute("aria-expanded", String(open));
  });
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
  $("log-hits-only").checked = stored("logHitsOnly", "0") === "1";
  log.classList.toggle("hits-only", $("log-hits-only").checked);
  $("log-hits-only").addEventListener("change", () => {
    log.classList.toggle("hits-only", $("log-hits-only").checked);
    store("logHitsOnly", $("log-hits-only").checked ? "1" : "0");
    paintLogWaiting();
  });
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  paintBanner();
  connect();
});

window.marketBoard = board; // for the browser tests and the console
