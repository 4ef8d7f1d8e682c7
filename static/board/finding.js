// Finding things: the filters, the count of stopped lines (and the tab's title and icon), the
// order of the events, pins, and markets opened or folded.

import { clock, groupWords, PRODUCTS } from "./words.js";
import { $, board, el, lineKey, setText, STOPPED, store } from "./state.js";

const MAX_PINNED = 200;

function matches(entry) {
  const product = $("product-filter").value;
  const sport = $("sport-filter").value;
  const text = $("event-search").value.trim().toLowerCase();
  return !((product && String(entry.event.product) !== product) ||
    (sport && entry.sport !== sport) || (text && !entry.search.includes(text)));
}

export function applyFilter(entry) {
  const hidden = !matches(entry);
  if (entry.el.hidden !== hidden) {
    entry.el.hidden = hidden;
    for (const li of $("bet-stop-log").children) {
      if (li.dataset.eventId === entry.event.event_id) li.hidden = hidden;
    }
    scheduleCount();
  }
}

export function applyFilters() {
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

export function addSportOption(sport) {
  const select = $("sport-filter");
  for (const option of select.options) if (option.value === sport) return;
  const option = el("option", null, sport);
  option.value = sport;
  let before = null;
  for (const other of select.options) if (other.value && other.value > sport) { before = other; break; }
  select.insertBefore(option, before);
}

export const dirtyEvents = new Set();
let countPending = false;
export function scheduleCount() {
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
export function scheduleOrder(delay = 100) {
  const at = Date.now() + delay;
  if (orderTimer && orderAt <= at) return;
  clearTimeout(orderTimer);
  orderAt = at;
  orderTimer = setTimeout(() => order(false), delay);
}

export function scheduleStopOrder() {
  board.orderDue = true;
  paintSortNow();
  scheduleOrder(Math.max(100, board.orderedAt + SORT_EVERY_MS - Date.now()));
}

export function holdBoard(held) {
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
export function order(asked = true) {
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

export function togglePin(entry) {
  const id = entry.event.event_id;
  const pinned = !board.pinned.has(id);
  if (pinned) board.pinned.add(id);
  else board.pinned.delete(id);
  while (board.pinned.size > MAX_PINNED) board.pinned.delete(board.pinned.values().next().value);
  store("pinned", JSON.stringify([...board.pinned]));
  paintPin(entry, pinned);
  order();
}

export function paintPin(entry, pinned) {
  const button = entry.el.querySelector(".pin");
  button.setAttribute("aria-pressed", String(pinned));
  button.textContent = pinned ? "Pinned" : "Pin";
  entry.el.classList.toggle("pinned", pinned);
}

// The dense view opens a row to every market; the card view folds a card to its main market.
// Each view keeps its own choice; Enter and the Markets button toggle the one on screen.
const denseView = () => $("events").classList.contains("dense");

export function toggleExpanded(entry) {
  const id = entry.el.dataset.eventId;
  const chosen = denseView() ? board.expanded : board.folded;
  if (chosen.has(id)) chosen.delete(id);
  else chosen.add(id);
  paintExpanded(entry);
}

export function paintExpanded(entry) {
  const id = entry.el.dataset.eventId;
  const expanded = board.expanded.has(id);
  const folded = board.folded.has(id);
  if (entry.el.classList.contains("expanded") !== expanded) entry.el.classList.toggle("expanded", expanded);
  if (entry.el.classList.contains("folded") !== folded) entry.el.classList.toggle("folded", folded);
  const open = String(denseView() ? expanded : !folded);
  if (entry.expand.getAttribute("aria-expanded") !== open) entry.expand.setAttribute("aria-expanded", open);
}
