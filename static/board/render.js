// Rendering: the events' cards and their lines, from the relay's messages, touching only what
// changed.

import {
  clock, competitors, duration, groupWords, KIND_WORDS, PRODUCTS, reasonWords, specText, sportName,
  START, statusWords, withEntities,
} from "./words.js";
import {
  $, board, CANCELLED_FIXTURE, CLOSED, el, FEED_GAP, lineKey, lineState, setText, STOPPED,
} from "./state.js";
import {
  addSportOption, applyFilter, dirtyEvents, paintExpanded, paintPin, scheduleCount, scheduleOrder,
  toggleExpanded, togglePin,
} from "./finding.js";
import { flash, openHistory } from "./alerts.js";

const FLASH_MS = 2500; // off at the next clock tick after: 2.5 to 3.5 s
const TINT_MS = 1000; // an odds move's tint: long enough to catch the eye, short enough to read

// The market a dense row shows for an event: the first of these the event has, else its first.
const MAIN_MARKETS = [1, 186, 219, 406, 251, 340, 610, 11, 18, 16];

// Events -------------------------------------------------------------------------------------

export function upsertEvent(event) {
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

export function paintEventMeta(entry) {
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

export function upsertLine(line, reason, gapAt = 0) {
  const key = lineKey(line);
  let entry = board.lines.get(key);
  if (!entry) {
    entry = createLine(line);
    board.lines.set(key, entry);
  }
  const previous = entry.line;
  entry.line = line;
  if (entry.event.stop && (!previous || previous.status !== line.status)) dirtyEvents.add(entry.event);
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

export function paintLine(entry) {
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

export function paintCounter(entry, now) {
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

export function repaintAll() {
  for (const entry of board.lines.values()) paintLine(entry);
  scheduleCount();
}

// The cards on screen: the clock repaints only their stopped lines' counters.
export const onScreen = new Set();
export const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
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
