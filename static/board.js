// The traders' market board: applies the relay's /ws messages in order, touching only what changed.
"use strict";

(() => {
  const STOPPED = new Set(["suspended", "handed_over"]);
  const PRODUCTS = { 1: "Live", 3: "Prematch" };
  const MAX_LOG = 50;
  const FLASH_UP = [{ backgroundColor: "#e6f4ea", color: "#137333" }, {}];
  const FLASH_DOWN = [{ backgroundColor: "#fce8e6", color: "#b3261e" }, {}];

  const board = {
    seq: 0,
    synced: false, // a snapshot arrived on the current socket and no gap since
    ws: null,
    retry: 0,
    health: null,
    healthAt: 0,
    events: new Map(), // event_id -> {event, el, markets: Map(market_id -> el)}
    lines: new Map(), // key -> {line, el, outcomes: Map(id -> el)}
    stats: null,
    renderedAt: 0,
    builtAt: 0,
    pending: 0, // snapshot lines not built yet (a big board is built a screenful first)
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // feed text is always text, never markup
    return node;
  };
  const lineKey = (line) => `${line.event_id}\u0000${line.market_id}\u0000${line.specifiers}`;

  // Connection ---------------------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    board.ws = ws;
    ws.onmessage = (event) => receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (event.code === 4401) {
        location.assign("/login"); // no session, or it ended: the server says so with 4401
        return;
      }
      if (board.ws !== ws) return;
      board.ws = null;
      lostSync();
      // Exponential backoff with full jitter, capped at 10 s.
      const delay = Math.random() * Math.min(10000, 500 * 2 ** board.retry++);
      setTimeout(connect, delay);
    };
  }

  function lostSync() {
    // Until a fresh snapshot, nothing on screen may read as bettable.
    board.synced = false;
    repaintAll();
    paintBanner();
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
      applyHealth(message.health);
    } else {
      if (message.event) upsertEvent(message.event);
      for (const line of message.lines) upsertLine(line);
      if (message.type === "bet_stop") logBetStop(message.entry);
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
    board.events.clear();
    board.lines.clear();
    board.seq = snapshot.seq;
    board.synced = true;
    board.retry = 0;
    board.health = snapshot.health;
    board.healthAt = Date.now();
    board.pending = snapshot.lines.length;
    for (const event of snapshot.events) upsertEvent(event);
    // Oldest first: each is prepended, so the newest ends on top.
    for (const entry of snapshot.bet_stops) logBetStop(entry);
    paintBanner();
    applyFilters();
    const generation = ++rendering;
    let next = 0;
    const chunk = (budget) => {
      if (generation !== rendering) return;
      const until = performance.now() + budget;
      while (next < snapshot.lines.length && performance.now() < until) {
        for (const stop = Math.min(next + 64, snapshot.lines.length); next < stop; next++) {
          const line = snapshot.lines[next];
          // A message applied since the snapshot already drew this line, newer than this.
          if (!board.lines.has(lineKey(line))) upsertLine(line);
        }
      }
      board.pending = snapshot.lines.length - next;
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
    if (!entry) {
      const article = $("event-template").content.firstElementChild.cloneNode(true);
      article.dataset.eventId = event.event_id;
      entry = { event, el: article, markets: new Map() };
      board.events.set(event.event_id, entry);
      $("events").append(article);
    }
    entry.event = event;
    const article = entry.el;
    article.dataset.product = event.product;
    article.dataset.search = `${event.name} ${event.event_id}`.toLowerCase();
    const badge = article.querySelector(".badge");
    badge.textContent = PRODUCTS[event.product] || `Product ${event.product}`;
    badge.className = `badge ${event.product === 1 ? "live" : "prematch"}`;
    article.querySelector(".event-name").textContent = event.name || event.event_id;
    article.querySelector(".event-meta").textContent = eventMeta(event);
    return entry;
  }

  function eventMeta(event) {
    const score = event.home_score !== null && event.home_score !== undefined
      ? `${event.home_score} – ${event.away_score}` : "";
    if (event.product === 1) return [score, event.status].filter(Boolean).join(" · ");
    if (event.start_time) {
      return new Date(event.start_time).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
    }
    return "";
  }

  function eventEntry(line) {
    return board.events.get(line.event_id) ||
      upsertEvent({ event_id: line.event_id, product: line.product, name: "", start_time: null });
  }

  // Lines --------------------------------------------------------------------------------------

  function upsertLine(line) {
    const key = lineKey(line);
    let entry = board.lines.get(key);
    if (!entry) {
      entry = createLine(line);
      board.lines.set(key, entry);
    }
    const previous = entry.line;
    entry.line = line;
    for (const [id, outcome] of Object.entries(line.outcomes)) {
      let cell = entry.outcomes.get(id);
      if (!cell) {
        cell = el("span", "outcome");
        cell.dataset.outcomeId = id;
        cell.append(el("span", "oid", id), el("span", "odds"));
        entry.el.append(cell);
        entry.outcomes.set(id, cell);
      }
      const before = previous && previous.outcomes[id] ? previous.outcomes[id].odds : null;
      paintOdds(cell, outcome.odds, before);
    }
    paintLine(entry);
  }

  function createLine(line) {
    const event = eventEntry(line);
    let market = event.markets.get(line.market_id);
    if (!market) {
      market = el("div", "market");
      market.dataset.marketId = line.market_id;
      market.append(el("h3", null, line.name || `Market ${line.market_id}`));
      event.markets.set(line.market_id, market);
      event.el.querySelector(".markets").append(market);
    }
    const row = el("div", "line");
    row.dataset.eventId = line.event_id;
    row.dataset.marketId = line.market_id;
    row.dataset.specifiers = line.specifiers;
    row.append(el("span", "spec", line.specifiers), el("span", "lock", "Suspended"));
    market.append(row);
    return { line, el: row, outcomes: new Map() };
  }

  function effectiveStatus(line) {
    if (line.status !== "active") return line.status;
    if (!board.synced || !productUp(line.product)) return "suspended"; // the feed-health overlay
    return "active";
  }

  function productUp(product) {
    const health = board.health;
    return Boolean(health && health.connected && health.products[product] && health.products[product].up);
  }

  function paintLine(entry) {
    const { line, el: row } = entry;
    const status = effectiveStatus(line);
    if (row.dataset.status !== status) row.dataset.status = status;
    row.dataset.product = line.product;
    if (status === "active") row.removeAttribute("aria-disabled");
    else row.setAttribute("aria-disabled", "true");
    row.title = stopReason(line, status);
  }

  function stopReason(line, status) {
    if (!STOPPED.has(status)) return "";
    if (line.status === "active") {
      if (!board.synced) return "Reconnecting";
      return (board.health && board.health.reason) || "Feed down for this product"; // e.g. relay link down
    }
    if (line.status === "handed_over") return "Handed over to live";
    return line.reason ? `BetStop: ${line.reason}` : "Suspended by the feed";
  }

  function paintOdds(cell, odds, before) {
    const text = odds === null || odds === undefined ? "–" : odds.toFixed(2);
    const oddsEl = cell.lastChild;
    if (oddsEl.textContent !== text) oddsEl.textContent = text;
    if (before === null || before === undefined || odds === null || odds === before) return;
    const up = odds > before;
    cell.classList.toggle("flash-up", up);
    cell.classList.toggle("flash-down", !up);
    // The Web Animations API restarts a flash without forcing a layout of the whole board.
    cell.animate(up ? FLASH_UP : FLASH_DOWN, { duration: 3000, easing: "ease-out" });
  }

  function repaintAll() {
    for (const entry of board.lines.values()) paintLine(entry);
    scheduleCount();
  }

  // Health -------------------------------------------------------------------------------------

  function applyHealth(health) {
    const before = board.health;
    board.health = health;
    board.healthAt = Date.now();
    const changed = new Set();
    for (const product of Object.keys(health.products)) {
      const was = before && before.connected && before.products[product] && before.products[product].up;
      if (Boolean(was) !== productUp(Number(product))) changed.add(Number(product));
    }
    if (changed.size) {
      for (const entry of board.lines.values()) if (changed.has(entry.line.product)) paintLine(entry);
    }
    paintBanner();
  }

  function paintBanner() {
    const banner = $("feed-banner");
    const health = board.health;
    const products = health ? Object.keys(health.products) : [];
    const up = board.synced && health && health.connected && products.every((p) => health.products[p].up);
    banner.dataset.feedStatus = up ? "up" : "down";
    banner.querySelector(".banner-state").textContent = !board.synced
      ? "Reconnecting…" : up ? "Feed connected" : health && health.connected ? "Feed degraded"
        : health && health.reason ? `Feed down: ${health.reason}` : "Feed down";
    for (const chip of banner.querySelectorAll(".product")) {
      const product = chip.dataset.product;
      const ok = board.synced && productUp(Number(product));
      chip.dataset.up = String(ok);
      chip.querySelector(".product-state").textContent = ok ? "up" : "down";
    }
    paintAliveAges();
  }

  function paintAliveAges() {
    const health = board.health;
    for (const chip of $("feed-banner").querySelectorAll(".product")) {
      const info = health && health.products[chip.dataset.product];
      const age = info && info.alive_age_ms !== null ? info.alive_age_ms + (Date.now() - board.healthAt) : null;
      chip.querySelector(".alive-age").textContent = age === null ? "no alive yet" : `alive ${Math.round(age / 1000)} s ago`;
    }
  }

  // BetStop log, filters, count ----------------------------------------------------------------

  // One shape for a log entry, whether from a snapshot or a live bet_stop message (its `entry`).
  function logBetStop(entry) {
    const event = board.events.get(entry.event_id);
    const item = el("li");
    item.dataset.eventId = entry.event_id;
    item.append(
      el("time", null, new Date(entry.received_at).toLocaleTimeString()),
      el("b", null, event && event.event.name ? event.event.name : entry.event_id),
      document.createTextNode(` · ${entry.groups || "all"} · ${entry.status} · ${entry.lines_hit} lines`),
    );
    const log = $("bet-stop-log");
    log.prepend(item);
    while (log.childElementCount > MAX_LOG) log.lastElementChild.remove();
  }

  function applyFilters() {
    const product = $("product-filter").value;
    const text = $("event-search").value.trim().toLowerCase();
    for (const { el: article } of board.events.values()) {
      article.hidden = Boolean((product && article.dataset.product !== product) ||
        (text && !article.dataset.search.includes(text)));
    }
  }

  let countPending = false;
  function scheduleCount() {
    if (countPending) return;
    countPending = true;
    requestAnimationFrame(() => {
      countPending = false;
      let suspended = 0;
      for (const entry of board.lines.values()) if (STOPPED.has(effectiveStatus(entry.line))) suspended++;
      $("suspended-count").textContent = suspended;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("product-filter").addEventListener("change", applyFilters);
    $("event-search").addEventListener("input", applyFilters);
    $("show-closed").addEventListener("change", (e) => document.body.classList.toggle("show-closed", e.target.checked));
    setInterval(paintAliveAges, 1000);
    paintBanner();
    connect();
  });

  window.marketBoard = board; // for the browser tests and the console
})();
