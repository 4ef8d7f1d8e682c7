// The banner: the feed connected, degraded or down, each product's last alive, and the outage
// bar.

import { clock, duration, PRODUCTS } from "./words.js";
import { $, aliveTimeoutMs, board, productUp, setData, setText } from "./state.js";
import { scheduleCount } from "./finding.js";

export function paintBanner() {
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
// health messages: up (green) turns late (amber) after half the server's alive timeout without
// an alive, before the server calls it down at the whole of it.
export function paintAliveAges() {
  const health = board.health;
  const banner = $("feed-banner");
  let late = false;
  for (const chip of banner.querySelectorAll(".product")) {
    const info = health && health.products[chip.dataset.product];
    const age = info && info.alive_age_ms !== null && info.alive_age_ms !== undefined
      ? info.alive_age_ms + (Date.now() - board.healthAt) : null;
    const ok = board.synced && productUp(Number(chip.dataset.product));
    const slow = ok && age !== null && age > aliveTimeoutMs() / 2;
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

export function paintOutageBanner(now) {
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
