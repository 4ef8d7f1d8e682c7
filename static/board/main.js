// The traders' market board: applies the relay's /ws messages in order, touching only what changed.
//
// Idle cost matters as much as speed: a board stays open all day. Nothing here animates per
// frame. Odds flashes and card flashes are one class each, taken off by one shared sweep timer;
// the only per-second work is the live counters of the stopped lines on screen and the banner.
//
// This module starts the board and runs its clock. Each job is a module of its own, and imports
// go one way only, from a job to those listed before it: words and state; finding; alerts and
// the banner; rendering; connection and resync; keys and preferences.

import { $, aliveTimeoutMs, board } from "./state.js";
import { holdBoard, order } from "./finding.js";
import { holdLog, insertLog, releaseLog, sweep } from "./alerts.js";
import { paintAliveAges, paintBanner, paintOutageBanner } from "./banner.js";
import { observer, onScreen, paintCounter, paintEventMeta } from "./render.js";
import { connect, watchdog } from "./connection.js";
import { onKey } from "./keys.js";
import { setUpControls } from "./prefs.js";

// The clock: live counters of the stopped lines on screen, alive ages, outage durations ------

let ticks = 0;
function tick() {
  const now = Date.now();
  watchdog(now);
  sweep(now);
  paintAliveAges();
  paintOutageBanner(now);
  for (const outage of Object.values(board.outages)) {
    if (outage && "quiet" in outage.li.dataset && now - outage.since > aliveTimeoutMs()) {
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
