"""The rules of an odds change (10020), in both shapes: whole, or a slice of its lines at a time.

Part of MarketState (feed/market/rules.py), which holds the state they change. No I/O, no clock.

An odds change of 20,000 lines takes the rules most of a second: applied in slices, whoever
applies it can let the rest of the process run between slices. The slices end in the state the
whole message gives: the message's own parts (its event, time, product) are read and applied once,
before the first line, and each line is read and applied as it would be in one go.
"""

from feed.market.model import (
    ACTIVE,
    CANCELLED,
    CLOSED,
    LIVE,
    PREMATCH,
    SUSPENDED,
    Applied,
    MarketLine,
    MessageError,
)
from feed.market.reading import LineUpdate, event_of, odds_line_reads, odds_product


class OddsChanges:
    """MarketState's rules for odds changes."""

    def apply_odds_change(self, data, sent):
        """Apply each line that can be read; a line read only in part is suspended."""
        (applied,) = self.odds_change_slices(data, sent, None)
        return applied

    def odds_change_slices(self, data, sent, size):
        """Apply an odds change `size` lines at a time (None: all of them), yielding an Applied
        for each slice once it is applied; the first carries the message's own `skipped`.

        MessageError, raised before the first slice, means nothing changed.
        """
        event_id = event_of(data, required=True)
        skipped = []
        timestamp = sent.read(data, skipped)
        if timestamp is None:  # it cannot be ordered against BetStops: nothing of it applies
            raise MessageError("bad_timestamp", repr(data.get("timestamp"))[:80])
        product = odds_product(data, skipped)
        reads = odds_line_reads(data, skipped)  # the containers read before anything changes
        memory = self._memory(event_id)
        memory.saw(timestamp)
        products, product_read = product
        event = self._event(event_id, next(iter(products)) if len(products) == 1 else None, data)
        changed, count, slices = {}, 0, 0
        for read in reads:
            if isinstance(read, int):  # a market whose lines cannot be told apart
                for line in self._stop_market(event_id, read, timestamp):
                    changed[line.key] = line
            else:
                update = LineUpdate(event_id, products, product_read, timestamp, **read)
                line = self._apply_line(update, memory, event)
                if line is not None:
                    changed[line.key] = line
            count += 1
            if count == size:
                yield Applied(
                    list(changed.values()),
                    event,
                    skipped=list(skipped),
                    timestamp=timestamp,
                    event_id=event_id,
                )
                changed, count, slices = {}, 0, slices + 1
                skipped.clear()
        if count or not slices:
            yield Applied(
                list(changed.values()),
                event,
                skipped=list(skipped),
                timestamp=timestamp,
                event_id=event_id,
            )

    def _apply_line(self, update, memory, event):
        line = self.lines.get(update.key)
        if line is not None:
            if line.status in CLOSED:
                return None
            if line.updated_at > update.timestamp:
                if update.status in CLOSED:  # closing stops betting: it applies however late
                    line.status, line.reason = update.status, ""
                    return line
                # Older than what we have, a BetStop included: it cannot reopen it. But its
                # product fed the line: from now on that product's stops and health rule it too.
                if update.products <= line.fed_by:
                    return None
                line.products = update.products | line.fed_by
                line.product = LIVE if LIVE in line.products else PREMATCH
                return line
        # A prematch update never takes a line away from live stops or live health: the line
        # answers to every product that fed it (odds of no product, or of one we cannot read,
        # to both).
        products = update.products | (line.fed_by if line is not None else frozenset())
        product = LIVE if LIVE in products else PREMATCH
        groups = update.groups or self.descriptions.groups(update.market_id)
        status, reason, until = update.status, "", update.timestamp
        if memory.cancelled:
            status = CANCELLED
        elif status == ACTIVE and (not update.readable or not update.product_read):
            status = SUSPENDED  # odds we could not read, or of no product we know: not bettable
        elif status == ACTIVE:
            stop = memory.stop_over(groups, products, since=update.timestamp)
            if stop is not None:  # stopped by a BetStop as late as these odds, or later
                status, reason, until = stop.status, stop.reason, stop.timestamp
        if line is None:
            line = MarketLine(update.event_id, update.market_id, update.specifiers, product)
            self.lines[update.key] = line
            self.lines_by_event.setdefault(update.event_id, {})[update.key] = line
        line.product, line.products = product, products
        line.status = status
        line.updated_at = max(line.updated_at, until)
        line.reason = reason
        # A line's names change only with a name from the feed: filled once, not on every change.
        names, market_id, specifiers = self.descriptions, update.market_id, update.specifiers
        for outcome_id, outcome in update.outcomes.items():
            known = line.outcomes.get(outcome_id)
            if outcome.name or known is None:
                outcome.name = names.outcome_name(market_id, specifiers, outcome_id, outcome.name)
            else:
                outcome.name = known.name
        line.outcomes.update(update.outcomes)
        line.groups = groups
        if update.name or not line.name:
            line.name = names.market_name(market_id, specifiers, update.name)
        return line

    def _stop_market(self, event_id, market_id, timestamp):
        """Suspend every open line of a market whose update named no line we could read."""
        stopped = []
        for line in self.lines_by_event.get(event_id, {}).values():
            if line.market_id != market_id or line.status in CLOSED:
                continue
            if line.updated_at > timestamp:
                continue
            if line.status == ACTIVE:
                line.status, line.reason = SUSPENDED, ""
            line.updated_at = timestamp
            stopped.append(line)
        return stopped
