// The feed's vocabulary in a trader's words: match statuses, BetStop reasons and groups,
// sports, competitors, market specifiers; and times. Pure: no state, no page.

export const PRODUCTS = { 1: "Live", 3: "Prematch" };

// Sportradar's match status descriptions (the UOF API's descriptions/en/match_status.xml, as the
// SDKs' fixtures hold it), word for word but for 110, 120 and 130, which it abbreviates (AET,
// AP, AGS), and 99 and 151-155 in sentence case ("Only Result", "1st Game" there).
const MATCH_STATUS = {
  0: "Not started", 1: "1st period", 2: "2nd period", 3: "3rd period", 4: "4th period",
  5: "5th period", 6: "1st half", 7: "2nd half", 8: "1st set", 9: "2nd set", 10: "3rd set",
  11: "4th set", 12: "5th set", 13: "1st quarter", 14: "2nd quarter", 15: "3rd quarter",
  16: "4th quarter", 17: "Golden set", 20: "Started", 21: "In progress", 30: "Break",
  31: "Halftime", 32: "Awaiting extra time", 33: "Extra time halftime", 34: "Awaiting penalties",
  35: "Awaiting penalties", 36: "Awaiting penalties", 40: "Overtime", 41: "1st extra",
  42: "2nd extra", 50: "Penalties", 51: "Penalties", 52: "Penalties", 60: "Postponed",
  61: "Start delayed", 70: "Cancelled", 71: "Game 1", 72: "Game 2", 73: "Game 3", 74: "Game 4",
  75: "Game 5", 76: "Game 6", 77: "Game 7", 80: "Interrupted", 81: "Suspended", 90: "Abandoned",
  91: "Walkover", 92: "Retired", 93: "Walkover, player 1 won", 94: "Walkover, player 2 won",
  95: "Player 1 retired, player 2 won", 96: "Player 2 retired, player 1 won", 97: "Defaulted",
  98: "Defaulted", 99: "Only result", 100: "Ended", 110: "After extra time",
  120: "After penalties", 130: "After golden set", 141: "1st map", 142: "2nd map",
  143: "3rd map", 144: "4th map", 145: "5th map", 146: "6th map", 147: "7th map",
  151: "1st game", 152: "2nd game", 153: "3rd game", 154: "4th game", 155: "5th game",
  301: "First break", 302: "Second break", 303: "Third break", 304: "Fourth break",
  305: "Fifth break", 306: "Sixth break", 419: "Extra inning top", 420: "Extra inning bottom",
  438: "Break topEI-bottom9", 439: "Break topEI-bottomEI", 440: "Sudden death", 441: "6th set",
  442: "7th set", 443: "Awaiting sudden death", 444: "After sudden death", 445: "Break",
  501: "First innings, home team", 502: "First innings, away team",
  503: "Second innings, home team", 504: "Second innings, away team",
  505: "Awaiting super over", 506: "Super over, home team", 507: "Super over, away team",
  508: "After super over", 509: "Innings break", 510: "Super over break", 511: "Lunch break",
  512: "Tea break", 513: "Stumps", 514: "8th set", 515: "9th set", 516: "10th set",
  517: "11th set", 518: "12th set", 519: "13th set",
};
// 401-418: "1st inning top", "1st inning bottom", ... "9th inning bottom"; 421-437: the breaks
// between them, "Break top1-bottom1", "Break top2-bottom1", ... "Break top9-bottom9".
for (let inning = 1; inning <= 9; inning++) {
  const nth = ["1st", "2nd", "3rd"][inning - 1] || `${inning}th`;
  MATCH_STATUS[399 + 2 * inning] = `${nth} inning top`;
  MATCH_STATUS[400 + 2 * inning] = `${nth} inning bottom`;
  MATCH_STATUS[419 + 2 * inning] = `Break top${inning}-bottom${inning}`;
  if (inning > 1) MATCH_STATUS[418 + 2 * inning] = `Break top${inning}-bottom${inning - 1}`;
}
// Sportradar's betstop reasons (the UOF API's descriptions/betstop_reasons.xml, as the SDKs'
// fixtures hold it: ids 0-79), its identifiers written as words: POSSIBLE_GOAL_HOME is
// "Possible goal (home)".
const BET_STOP_REASONS = [
  "Unknown", "Possible goal", "Possible red card", "Scout lost", "Possible goal (home)",
  "Possible goal (away)", "Possible red card (home)", "Possible red card (away)",
  "Possible penalty", "Possible penalty (home)", "Possible penalty (away)",
  "Connected to supervisor", "Match ended", "Game point", "Tie-break",
  "Possible direct foul (home)", "Possible direct foul (away)", "Possible direct foul",
  "Dangerous free kick (home)", "Dangerous free kick (away)", "Dangerous goal position (home)",
  "Dangerous goal position (away)", "Goal under review", "Score under review", "Disconnection",
  "Possible checkout", "Multiple suspensions", "Possible dangerous free kick",
  "Possible dangerous goal position", "Possible touchdown (home)", "Possible touchdown (away)",
  "Possible field goal (home)", "Possible field goal (away)", "Possible safety (home)",
  "Possible safety (away)", "Possible turnover (home)", "Possible turnover (away)",
  "Video review", "Red zone (home)", "Red zone (away)", "Possible boundary", "Possible wicket",
  "Possible challenge (home)", "Possible challenge (away)", "Possible turnover",
  "Unknown operator", "Free ball", "Deep ball", "Possible run", "Maintenance",
  "Base hit deleted", "Match delayed", "Match postponed", "Scout disconnection (TV signal)",
  "Possible offsetting penalty", "Possible punt (home)", "Possible punt (away)",
  "Possible fourth down attempt (home)", "Possible fourth down attempt (away)",
  "Possible onside kick (home)", "Possible onside kick (away)", "Possible challenge",
  "Possible card", "Delayed penalty", "Shootout begins", "Empty net", "Possible try (home)",
  "Possible try (away)", "Possible drop goal (home)", "Possible drop goal (away)",
  "Possible card (home)", "Possible card (away)", "Possible penalty (home, hockey)",
  "Possible penalty (away, hockey)", "Delayed penalty (home, hockey)",
  "Delayed penalty (away, hockey)", "Two-man advantage (home)", "Two-man advantage (away)",
  "Possible field goal", "Rollback event",
];
// BetStop groups (Sportradar's market groups, as the shipped descriptions name them) in words.
// A group not here reads as its id made readable (groupWords).
const GROUP_WORDS = {
  all: "all", score: "score", regular_play: "regular play", "1st_half": "1st half",
  "2nd_half": "2nd half", incl_ot: "incl. overtime", incl_ei: "incl. extra innings",
  incl_ot_and_pen: "incl. overtime and penalties", corner: "corners", corners: "corners",
  booking: "bookings", bookings: "bookings", period: "periods", quarter: "quarters", set: "sets",
};
const GROUP_TOKENS = { incl: "incl.", ot: "overtime", ei: "extra innings", et: "extra time", pen: "penalties" };

export const KIND_WORDS = {
  suspended: "Suspended by the feed", handed_over: "Handed over",
  feed_gap: "Feed gap: waiting for fresh odds",
  reconnecting: "Reconnecting", fixture_cancelled: "Fixture cancelled",
  feed_gap: "Feed gap: waiting for fresh odds",
  settled: "Settled", cancelled: "Cancelled", deactivated: "Deactivated",
};

const CLOCK = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const DAY_CLOCK = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
  hourCycle: "h23",
});
export const START = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  hourCycle: "h23",
});

// Times ----------------------------------------------------------------------------------------

export function clock(ms) {
  if (!ms) return "";
  const date = new Date(ms);
  return new Date().toDateString() === date.toDateString() ? CLOCK.format(date) : DAY_CLOCK.format(date);
}

export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

// How long something lasted, in a sentence: "42 s", "3 min 5 s", "1 h 2 min".
export function span(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return s ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

export function timezoneLabel() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
    .formatToParts(new Date()).find((p) => p.type === "timeZoneName");
  return part && part.value !== zone ? `${zone} (${part.value})` : zone;
}

export function competitors(event) {
  if (Array.isArray(event.competitors) && event.competitors.length === 2) {
    return event.competitors.map((c) => (typeof c === "string" ? c : c && c.name) || null);
  }
  const home = event.home_team || event.home, away = event.away_team || event.away;
  if (home && away) return [String(home), String(away)];
  const parts = String(event.name || "").split(/\s+(?:v|vs\.?|-|–|—|@)\s+/i);
  return parts.length === 2 && parts[0] && parts[1] ? parts : [null, null];
}

// Sportradar's ids of the sports the shipped descriptions cover, for a feed that sends ids.
const SPORTS = { "sr:sport:1": "Football", "sr:sport:2": "Basketball", "sr:sport:4": "Ice hockey", "sr:sport:5": "Tennis" };

export function sportName(sport) {
  if (!sport) return "";
  if (SPORTS[sport]) return SPORTS[sport];
  const text = String(sport).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function statusWords(status) {
  if (status === null || status === undefined || status === "") return "";
  const text = String(status);
  if (/^\d+$/.test(text)) return MATCH_STATUS[text] || `Status ${text}`;
  return text.charAt(0).toUpperCase() + text.slice(1).replace(/_/g, " ");
}

// {$competitor1}, {$competitor2} and {$event} are filled here, from the event as it is now: its
// names may come after its lines, or change. Without names, a bare competitor reads 1 or 2.
export function withEntities(text, entry) {
  if (!text || !text.includes("{$")) return text;
  const [home, away] = entry.competitors;
  const bare = /^\{\$competitor[12]\}$/.test(text.trim());
  return text.replace(/\{\$(competitor1|competitor2|event)\}/g, (_, which) => {
    if (which === "event") return entry.event.name || "event";
    const one = which === "competitor1";
    return (one ? home : away) || (bare ? (one ? "1" : "2") : (one ? "Home" : "Away"));
  });
}

// Only the values the market's name does not already say: "1st period - total" with
// periodnr=1|total=1.5 reads 1.5, not "1 · 1.5". A value is said when the name holds it as a
// word, as the name templates write it: plain, signed ({+hcp}) or, for a number, an ordinal
// ({!periodnr}).
export function specText(specifiers, name) {
  if (!specifiers) return "";
  const words = ` ${String(name || "").toLowerCase().replace(/[(),:]/g, " ").replace(/\s+/g, " ")} `;
  const said = (value) => {
    const forms = [value.toLowerCase()];
    const number = Number(value);
    if (value !== "" && Number.isFinite(number)) {
      forms.push(number > 0 ? `+${value}` : value);
      if (Number.isInteger(number) && number > 0) forms.push(ordinal(number));
    }
    return forms.some((form) => words.includes(` ${form} `));
  };
  return specifiers.split("|").map((part) => part.slice(part.indexOf("=") + 1))
    .filter((value) => !said(value)).join(" · ");
}

function ordinal(number) {
  const tens = number % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][number % 10] || "th";
  return `${number}${suffix}`;
}

// "regular_play" reads "regular play", "score|corners" "score, corners"; an unknown group its
// id made readable: 2nd_period "2nd period", incl_et "incl. extra time".
export function groupWords(groups) {
  const words = String(groups || "all").split("|").map((group) => GROUP_WORDS[group] ||
    group.split("_").map((token) => GROUP_TOKENS[token] || token).join(" "));
  return [...new Set(words)].join(", ");
}

export function reasonWords(data) {
  if (!data || typeof data !== "object") return "";
  const code = data.betstop_reason ?? data.stop_reason ?? data.bet_stop_reason;
  if (code === undefined || code === null || code === "") return "";
  if (/^\d+$/.test(String(code))) return BET_STOP_REASONS[Number(code)] || `Reason ${code}`;
  return String(code).slice(0, 80); // a reason the feed already gives in words
}

export const lineCount = (n) => `${n} line${n === 1 ? "" : "s"}`;
