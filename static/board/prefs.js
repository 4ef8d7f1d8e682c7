// Preferences: the controls bar, set as this browser kept the trader's choices.

import { timezoneLabel } from "./words.js";
import { $, board, setText, store, stored } from "./state.js";
import { applyFilters, order, paintExpanded } from "./finding.js";
import { paintLogWaiting, wakeAudio } from "./alerts.js";

const THEMES = ["auto", "dark", "light"];
function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  setText($("theme"), `Theme: ${theme}`);
  $("theme").dataset.value = theme;
}

// Each control of the bar and the log's option wired, and set as this browser kept it.
export function setUpControls() {
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
    if ($("sound").checked) wakeAudio();
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
  $("log-hits-only").checked = stored("logHitsOnly", "0") === "1";
  log.classList.toggle("hits-only", $("log-hits-only").checked);
  $("log-hits-only").addEventListener("change", () => {
    log.classList.toggle("hits-only", $("log-hits-only").checked);
    store("logHitsOnly", $("log-hits-only").checked ? "1" : "0");
    paintLogWaiting();
  });
}
