"""The state of every market line, and the feed's rules for changing it.

`MarketState.apply(frame, received)` takes one decoded upstream message and the time it was
received, and returns the lines it changed. It does no I/O and reads no clock, so the same rules run
in the feed client, in replays and in tests.

Whatever the feed sends, the rules fail safe: a part of a message that cannot be read is skipped
(and named in `Applied.skipped` for counting) or read the way that stops betting, never the way that
opens it. A message raises MessageError, changing nothing, only when nothing of it can be applied;
a message that fails half-way raises ApplyFailed after suspending every open line of its event.
Every value is read at the edge (`reading.py`, `feed/upstream/fields.py`): timestamps in
milliseconds whatever their unit and never later than the message's receipt, numbers finite,
flags from their text.

The order of the upstream's messages is the order they arrive in: a BetStop stops every line of its
scope that an earlier message opened, whatever the stamps say. Stamps order only what arrives after
a stop: odds stamped before it cannot reopen what it stopped.
"""

from typing import ClassVar

from feed.market import published
from feed.market.model import (
    ACTIVE,
    CANCELLED,
    CLOSED,
    DEACTIVATED,
    FEED_GAP,
    FIXTURE_CANCELLED,
    FORGOTTEN,
    LIVE,
    PREMATCH,
    PRODUCTS,
    SETTLED,
    SUSPENDED,
    Applied,
    ApplyFailed,
    Event,
    EventMemory,
    MarketLine,
    MessageError,
    Stop,
    bet_stop_status,
    normalise_specifiers,
    status_name,
)
from feed.market.odds import OddsChanges
from feed.market.reading import (
    Stamps,
    entries,
    event_fields,
    event_of,
    group_names,
    match_status,
    odds_product,
    read_market_id,
    stop_groups,
    stop_product,
    stop_reason,
)
from feed.upstream import fields, frames


class MarketState(OddsChanges):
    """Every event and market line the feed has told us about."""

    def __init__(self, descriptions):
        self.descriptions = descriptions
        self.events = {}
        self.lines = {}
        self.lines_by_event = {}
        self.memory = {}  # event id -> EventMemory
        self.group_names = descriptions.group_names()  # every group a BetStop can name

    def apply(self, frame, received=None):
        """Apply one decoded upstream message received at `received` (ms; None: trust its
        stamps); return an Applied, or None if it has no rule.

        All or nothing for the boards: a message that fails after it changed a line raises
        ApplyFailed, having suspended every open line of its event.
        """
        handler = self.HANDLERS.get(frame.cmd)
        if handler is None:
            return None
        if not isinstance(frame.data, dict):
            raise MessageError("data_not_object", f"cmd {frame.cmd}")
        try:
            applied = handler(self, frame.data, Stamps(frame.time, received))
        except MessageError:
            raise  # raised before anything changed
        except Exception as exc:
            event_id = event_of(frame.data)
            self.suspend(event_id=event_id)
            raise ApplyFailed(exc, list(self.lines_by_event.get(event_id, {}).values())) from exc
        return applied

    def apply_in_slices(self, frame, received, size):
        """apply() an odds change `size` lines at a time, yielding each slice's Applied once it
        is applied (any other message, or an odds change of no more lines, in one).

        All or nothing as apply(): a slice that fails suspends every open line of the event and
        raises ApplyFailed; MessageError comes before the first slice, and nothing changed.
        """
        if frame.cmd != frames.ODDS_CHANGE or not isinstance(frame.data, dict):
            yield self.apply(frame, received)
            return
        try:
            yield from self.odds_change_slices(frame.data, Stamps(frame.time, received), size)
        except MessageError:
            raise  # raised before anything changed
        except Exception as exc:
            event_id = event_of(frame.data)
            self.suspend(event_id=event_id)
            raise ApplyFailed(exc, list(self.lines_by_event.get(event_id, {}).values())) from exc

    def hold(self, stops, lines):
        """Stop again what a message changed (`lines`) by `stops`, event id -> the BetStops that
        were applied before it though they arrived after it; return the lines it stopped.

        Each stop does to them what it would have done applied after the message, as it came:
        an open line of its scope is stopped, and no odds stamped at or before it reopen one.
        """
        held = []
        for line in lines:
            for stop in stops.get(line.event_id, ()):
                if line.status in CLOSED or not stop.hits(line.groups, line.fed_by):
                    continue
                line.updated_at = max(line.updated_at, stop.timestamp)
                if line.status == ACTIVE:
                    line.status, line.reason = stop.status, stop.reason
                    held.append(line)
        return held

    def suspend(self, products=None, event_id=None, reason="", lines=None):
        """Suspend every open line (of `event_id`, or of `lines`, fed by one of `products`);
        return them.

        For what the rules cannot know: a gap in the feed, a message that failed half-way.
        A later odds change listing a line active reopens it, as after a BetStop.
        """
        if lines is None:
            by_key = self.lines if event_id is None else self.lines_by_event.get(event_id, {})
            lines = by_key.values()
        hit = []
        for line in lines:
            if line.status != ACTIVE:
                continue
            if products is not None and line.fed_by.isdisjoint(products):
                continue
            line.status, line.reason = SUSPENDED, reason
            hit.append(line)
        return hit

    def _memory(self, event_id):
        memory = self.memory.get(event_id)
        if memory is None:
            memory = self.memory[event_id] = EventMemory()
        return memory

    # BetStop (10030) ---------------------------------------------------------------------------

    def apply_bet_stop(self, data, sent):
        """Stop the event's lines in the BetStop's groups and product; remember it for later lines.

        A BetStop that names its event always stops something: groups it cannot read stop every
        group, a product it cannot read every product, and without a readable time it counts as
        the event's newest message.
        """
        event_id = event_of(data, required=True)
        skipped = []
        groups, reason = self._stop_scope(data.get("groups"), event_id, skipped)
        status = bet_stop_status(data.get("market_status"))
        if status_name(data.get("market_status"), default=SUSPENDED) not in (
            SUSPENDED,
            DEACTIVATED,
        ):
            skipped.append("unknown_market_status")
        product = stop_product(data, skipped)
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            skipped.append("bad_timestamp")
            timestamp = memory.newest
        memory.saw(timestamp)
        stop = Stop(timestamp, status, groups, product, reason)
        memory.remember(stop)
        hit = []
        for line in self.lines_by_event.get(event_id, {}).values():
            if line.status in CLOSED or not stop.hits(line.groups, line.fed_by):
                continue
            # Whatever opened the line arrived before this stop: the stop wins, however the two
            # were stamped. A line stopped already, or not shown, keeps its status, but the time
            # it is stopped until moves on: odds older than this stop must not reopen it. Only
            # lines whose status changed are reported (a repeated BetStop would otherwise resend
            # the whole event to every board); the event's memory, and after a restart the
            # BetStop log, keep the later stop.
            line.updated_at = max(line.updated_at, timestamp)
            if line.status == ACTIVE:
                line.status, line.reason = status, reason
                hit.append(line)
        return Applied(
            lines=hit,
            event=self.events.get(event_id),
            status=status,
            skipped=skipped,
            timestamp=timestamp,
            groups=reason,
            product=product,
            event_id=event_id,
            why=stop_reason(data),
            stop=stop,
        )

    # Settlement (10040) and cancel (10050) -----------------------------------------------------

    def apply_bet_settlement(self, data, sent):
        event_id = event_of(data, required=True)
        outcomes = data.get("outcomes")
        if outcomes is None:
            return Applied()
        if not isinstance(outcomes, dict):
            raise MessageError("bad_markets", type(outcomes).__name__)
        return self._close(
            event_id, data, outcomes.get("market", outcomes.get("markets")), SETTLED, sent
        )

    def apply_bet_cancel(self, data, sent):
        event_id = event_of(data, required=True)
        return self._close(event_id, data, data.get("market", data.get("markets")), CANCELLED, sent)

    def _close(self, event_id, data, markets, status, sent):
        """Close each line listed, whatever state it is in; a line not seen yet is made closed."""
        markets = entries(markets, "bad_markets")
        skipped = []
        products, _ = odds_product(data, skipped)
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            timestamp = memory.newest
        memory.saw(timestamp)
        product = LIVE if LIVE in products else PREMATCH
        closed = {}
        for market in markets:
            if not isinstance(market, dict):
                skipped.append("bad_market")
                continue
            market_id = read_market_id(market)
            if market_id is None:
                skipped.append("bad_market_id")
                continue
            try:
                specifiers = normalise_specifiers(market.get("specifiers"))
            except MessageError:
                skipped.append("bad_specifiers")  # which line is unknown: its market stops
                closed |= {
                    line.key: line for line in self._stop_market(event_id, market_id, timestamp)
                }
                continue
            key = (event_id, market_id, specifiers)
            line = self.lines.get(key)
            if line is None:  # remembered closed, so that odds arriving late cannot open it
                line = MarketLine(event_id, market_id, specifiers, product, products=products)
                line.groups = self.descriptions.groups(market_id)
                line.name = self.descriptions.market_name(market_id, specifiers)
                self.lines[key] = line
                self.lines_by_event.setdefault(event_id, {})[key] = line
            elif line.status == status:
                continue
            line.status = status
            line.reason = ""
            line.updated_at = max(line.updated_at, timestamp)
            closed[key] = line
        return Applied(
            lines=list(closed.values()), skipped=skipped, timestamp=timestamp, event_id=event_id
        )

    # Events: fixture change (10010) and match status (10060) -----------------------------------

    def apply_fixture_change(self, data, sent):
        """Update the event; a cancelled fixture (change_type 3) closes its lines, now and later."""
        event_id = event_of(data, required=True)
        skipped = []
        product = stop_product(data, skipped)
        event = self._event(event_id, product, data)
        start_time = fields.timestamp_ms(data.get("start_time"))
        if start_time is not None:
            event.start_time = start_time
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            timestamp = memory.newest
        memory.saw(timestamp)
        closed = []
        if fields.integer(data.get("change_type")) == FIXTURE_CANCELLED:
            event.status = "cancelled"
            memory.cancelled = True
            for line in self.lines_by_event.get(event_id, {}).values():
                if line.status not in CLOSED:
                    line.status, line.reason = CANCELLED, ""
                    line.updated_at = max(line.updated_at, timestamp)
                    closed.append(line)
        return Applied(
            lines=closed, event=event, skipped=skipped, timestamp=timestamp, event_id=event_id
        )

    def apply_match_status(self, data, sent):
        event_id = event_of(data, required=True)
        event = self.events.get(event_id)
        if event is None:
            return Applied()
        status = match_status(data.get("match_status_code", data.get("status_code")))
        if status is not None:
            event.status = status
        return Applied(event=event, event_id=event_id)

    def _stop_scope(self, value, event_id, skipped):
        """A BetStop's groups (None: every group) and their words, as the log keeps them too.

        A group that no market of the descriptions or of the event has cannot be matched: what
        the stop meant to stop is unknown, so it stops the whole event.
        """
        groups, reason = stop_groups(value, skipped)
        if groups is None or groups <= self.group_names:
            return groups, reason
        lines = self.lines_by_event.get(event_id, {}).values()
        if groups <= self.group_names.union(*(line.groups or () for line in lines)):
            return groups, reason
        skipped.append("unknown_groups")
        return None, "all"

    def _event(self, event_id, product, data):
        event = self.events.get(event_id)
        if event is None:
            event = self.events[event_id] = Event(event_id, LIVE if product is None else product)
        elif product is not None:
            event.product = product
        for name, value in event_fields(data).items():
            setattr(event, name, value)
        return event

    HANDLERS: ClassVar[dict] = {
        frames.BET_STOP: apply_bet_stop,
        frames.ODDS_CHANGE: OddsChanges.apply_odds_change,
        frames.BET_SETTLEMENT: apply_bet_settlement,
        frames.BET_CANCEL: apply_bet_cancel,
        frames.FIXTURE_CHANGE: apply_fixture_change,
        frames.MATCH_STATUS: apply_match_status,
    }

    def restore(self, events, lines, bet_stops=(), floors=None):
        """Load the last known events and lines (from the database after a restart); return
        the lines it added, and those it stopped.

        `bet_stops` are entries of the BetStop log (event_id, groups, product, status, sent_at):
        remembered again, so that lines older odds create after the restart obey them too.
        What the feed has said since the start wins over what is restored: a restore may come
        after the first messages (the database was slow or away), and only adds to them; a line
        opened since by odds stamped at or before a restored BetStop is stopped by it, and one
        it has is joined by the restored version (published.join). `floors` (event id ->
        stamp) stop what odds stamped no later open, as a BetStop of all would.
        """
        for event in events:
            if event.event_id not in self.events:
                self.events[event.event_id] = event
            if event.status == "cancelled":
                self._memory(event.event_id).cancelled = True
        changed, joined = [], []
        for line in lines:
            if line.key in self.lines:
                if published.join(self.lines[line.key], line):
                    joined.append(self.lines[line.key])
                continue
            if line.groups is not None:
                line.groups = group_names(list(line.groups)) or None
            # Which products fed it is not written: a live line may have been prematch's too
            # (most are, before kick-off), so it answers to both, as a line fed by no product.
            line.products = published.fed_by(line)
            self.lines[line.key] = line
            self.lines_by_event.setdefault(line.event_id, {})[line.key] = line
            self._memory(line.event_id).saw(line.updated_at)
            changed.append(line)
        stopped = set()
        for entry in bet_stops:
            event_id = event_of(entry)
            if event_id is None:
                continue
            memory = self._memory(event_id)
            groups, reason = self._stop_scope(entry.get("groups"), event_id, [])
            product = fields.integer(entry.get("product"))
            timestamp = fields.timestamp_ms(entry.get("sent_at"))
            timestamp = memory.newest if timestamp is None else timestamp
            status = DEACTIVATED if entry.get("status") == DEACTIVATED else SUSPENDED
            product = product if product in PRODUCTS else None
            memory.remember(Stop(timestamp, status, groups, product, reason))
            memory.saw(timestamp)
            stopped.add(event_id)
        for event_id, stamp in (floors or {}).items():
            self._memory(event_id).remember(Stop(stamp, SUSPENDED, None, None, FEED_GAP))
            stopped.add(event_id)
        restored = {line.key for line in changed}
        changed += joined
        for event_id in stopped:
            memory = self.memory[event_id]
            for line in self.lines_by_event.get(event_id, {}).values():
                if line.status != ACTIVE or line.key in restored:
                    continue
                stop = memory.stop_over(line.groups, line.fed_by, since=line.updated_at)
                if stop is not None:
                    line.status, line.reason = stop.status, stop.reason
                    line.updated_at = stop.timestamp
                    changed.append(line)
        return changed

    def forget(self, event_id, keys):
        """Drop these lines of an event, and the event with its last line; True if the event went.

        The event's memory then stops every line up to the newest time the dropped lines carried:
        odds stamped before their close create the line suspended, as the rules kept it closed.
        """
        lines = self.lines_by_event[event_id]
        newest = max(lines[key].updated_at for key in keys)
        memory = self._memory(event_id)
        memory.remember(Stop(newest, SUSPENDED, None, None, FORGOTTEN))
        memory.saw(newest)
        for key in keys:
            del lines[key]
            self.lines.pop(key, None)
        if lines:
            return False
        del self.lines_by_event[event_id]
        return self.events.pop(event_id, None) is not None

    def snapshot(self):
        return {
            "events": [event.to_json() for event in self.events.values()],
            "lines": [line.to_json() for line in self.lines.values()],
        }
