// Alerts: the log of BetStops and outages, an event's History, the sound, and the flashes
// (one class each, taken off by the clock's one sweep).

import {
  clock, duration, groupWords, lineCount, PRODUCTS, reasonWords, span, specText, withEntities,
} from "./words.js";
import { $, aliveTimeoutMs, board, el, lineKey, productUp, setText } from "./state.js";
import { dirtyEvents, scheduleStopOrder } from "./finding.js";

const MAX_LOG = 50;
const CARD_FLASH_MS = 1000;
const HIGHLIGHT_MS = 2000;

// The once-a-second clock takes flashes off (see tick in main.js): no animation runs per cell,
// nothing runs per frame, and taking them off costs no frame of its own.
const flashes = new Map(); // element -> [class, until]
export function flash(node, className, other, ms) {
  if (other && node.classList.contains(other)) node.classList.remove(other);
  if (!node.classList.contains(className)) node.classList.add(className);
  flashes.set(node, [className, Date.now() + ms]);
}
export function sweep(now) {
  for (const [node, [className, until]] of flashes) {
    if (until <= now) {
      node.classList.remove(className);
      flashes.delete(node);
      if (node.dataset.move) delete node.dataset.move; // an odds move's arrow
    }
  }
}

// BetStop log, alerts ------------------------------------------------------------------------

export function betStop(message, reason) {
  // The log entry (`entry`), the same object as the snapshot's and History's; older servers
  // sent only the data.
  const data = message.data || {};
  const log = message.entry || {
    event_id: data.event_id, groups: data.groups || "all", status: message.status,
    received_at: message.received, lines_hit: (message.lines || []).length,
  };
  const eventId = log.event_id;
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
  logBetStop({ ...log, received_at: received }, reason, true);
  beep();
}

// A log entry says what a trader reviews: the groups and why, then the markets it hit and what
// became of them (the relay follows them: see stopDetail). The server's entry, live, from the
// snapshot or in History alike; `live` for one arriving now (it may wait while the log is held).
export function logBetStop(stop, reason, live) {
  const eventId = stop.event_id;
  const at = stop.received_at || 0;
  const entry = board.events.get(eventId);
  const li = el("li", "bet-stop");
  li.dataset.eventId = eventId;
  li.dataset.at = at;
  const jump = el("button", "log-jump");
  jump.type = "button";
  jump.append(el("time", null, clock(at)), document.createTextNode(" "),
    el("b", "log-event", entry && entry.event.name ? entry.event.name : String(eventId)));
  jump.addEventListener("click", () => goToEvent(eventId));
  const text = [groupWords(stop.groups), reason || reasonWords(stop), stop.status].filter(Boolean);
  li.append(jump, document.createTextNode(` · ${text.join(" · ")}`));
  li.dataset.hits = Number(stop.lines_hit) || 0;
  const record = { li, detail: el("span", "log-detail"), stop };
  li.append(record.detail);
  paintRecord(record);
  if (stop.entry_id) {
    logRecords.set(stop.entry_id, record);
    // Bounded: an entry this old is off the log already.
    if (logRecords.size > 4 * MAX_LOG) logRecords.delete(logRecords.keys().next().value);
  }
  if (entry) li.hidden = entry.el.hidden;
  insertLog(li, at, live);
}

export const logRecords = new Map(); // entry id -> its record in the log, for its reopening

function paintRecord(record) {
  setText(record.detail, ` · ${stopDetail(record.stop)}`);
}

// "2 lines: 1x2, Total 2.5 · reopened 14:07:40 · stopped 28 s": how many lines it stopped, the
// markets of the first three ("+N more" for the rest), and what became of them: still stopped
// (all, or how many of them), reopened when the last did and after how long, or closed (settled
// or cancelled) without reopening. An entry the relay stopped following (100 newer BetStops
// came) says what was still stopped then; one logged before the relay followed names nothing.
export function stopDetail(stop) {
  const hits = Number(stop.lines_hit) || 0;
  const event = board.events.get(stop.event_id) || NO_EVENT;
  const names = (stop.markets || []).slice(0, 3).map((market) => marketWords(market, event));
  const more = hits > names.length && names.length ? ` +${hits - names.length} more` : "";
  const parts = [names.length ? `${lineCount(hits)}: ${names.join(", ")}${more}` : lineCount(hits)];
  const still = stop.still_stopped;
  if (!hits || still === null || still === undefined) return parts.join(" · ");
  if (still > 0) {
    const count = still === hits ? "still stopped" : `${still} of ${hits} still stopped`;
    parts.push(stop.followed ? count : `${count}, no longer followed`);
  } else if (stop.reopened_at) {
    const lasted = stop.duration_ms ?? stop.reopened_at - stop.received_at;
    parts.push(`reopened ${clock(stop.reopened_at)}`, `stopped ${span(lasted)}`);
    if (stop.closed_lines) parts.push(`${stop.closed_lines} closed`);
  } else parts.push("closed, not reopened");
  return parts.join(" · ");
}

const NO_EVENT = { competitors: [null, null], event: { name: "" } };
function marketWords(market, event) {
  const name = withEntities(market.name || `Market ${market.market_id}`, event);
  const spec = specText(market.specifiers, name);
  return spec ? `${name} ${spec}` : name;
}

// What became of an entry's lines, as the relay follows them (`bet_stop_reopened`): repainted at
// once unless the log is held, then when it is let go.
export function stopsReopened(message) {
  for (const change of message.progress || []) {
    const record = logRecords.get(change.entry_id);
    if (!record) continue;
    Object.assign(record.stop, change);
    if (board.logHeld) heldRecords.add(record);
    else paintRecord(record);
  }
}
export const heldRecords = new Set();

// A trader aims at an entry and clicks it most of a second later: at 1.6 entries a second, an
// entry inserted above meanwhile moved the list under the pointer, and the click opened another
// event. While the pointer or the focus is on the log, new entries wait behind "N new".
export function insertLog(li, at, live) {
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

export function holdLog(held) {
  board.logHeld = held;
  if (!held) releaseLog();
}

export function releaseLog() {
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

export function paintLogWaiting() {
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

// Outages are entries in the log; an ended one says until when and how long it lasted. The
// server remembers the latest (a snapshot's `outages`, and a health message's as they begin
// and end), so every board shows the same ones, after a reload too.
export function logOutage(outage, live) {
  const product = String(outage.product);
  const since = Number(outage.since) || 0;
  const until = Number(outage.until) || 0;
  const reason = outage.reason ? String(outage.reason) : "";
  const key = `${product}\u0000${since}`;
  // A start-up (the server's process has just started) that the feed ends within the grace lost
  // nothing: it is an outage on the banner while it lasts, and an entry only past the grace.
  const quiet = Boolean(outage.startup) && (until || Date.now()) - since <= aliveTimeoutMs();
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
export function trackOutages() {
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

// The Sound checkbox: a click may start audio, which a page may not do by itself.
export function wakeAudio() {
  try { audio = audio || new AudioContext(); audio.resume(); } catch { /* no audio */ }
}

export async function openHistory(entry) {
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
      const why = [groupWords(stop.groups), reasonWords(stop), stop.status].filter(Boolean).join(" · ");
      li.append(el("time", null, clock(stop.received_at)), el("b", null, ` ${entry.event.name || stop.event_id}`),
        document.createTextNode(` · ${why} · ${stopDetail(stop)}`));
      list.append(li);
    }
  } catch (error) {
    setText(state, `Could not load the history: ${error.message}`);
  }
}
