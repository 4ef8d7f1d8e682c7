// The keyboard: / searches, j and k step through the events, Enter opens or folds the one in
// focus.

import { $, board } from "./state.js";
import { toggleExpanded } from "./finding.js";

function stepEvent(step) {
  const cards = [...$("events").querySelectorAll(".event:not([hidden])")];
  if (!cards.length) return;
  const current = document.activeElement && document.activeElement.closest(".event");
  const at = cards.indexOf(current);
  const next = cards[at < 0 ? (step > 0 ? 0 : cards.length - 1) : Math.min(cards.length - 1, Math.max(0, at + step))];
  next.focus({ preventScroll: true });
  next.scrollIntoView({ block: "nearest" });
}

export function onKey(event) {
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
