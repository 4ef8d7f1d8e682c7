"""Feed health per product: is the socket up, has an alive come lately, is the source on time;
and the latest outages of each product, for every board's log."""

import collections

from feed.market.model import PRODUCTS
from feed.upstream import fields

PRODUCT_NAMES = {1: "live", 3: "prematch"}
ALIVE_TIMEOUT_MS = 20_000  # no alive for 20 s: down (FEED_ALIVE_TIMEOUT_SECONDS's default)
MAX_OFFSET_S = 20  # an alive whose offset_time exceeds 20 s: the odds source is down
OUTAGES_KEPT = 50  # ended outages remembered for the boards, besides those still going on


class FeedHealth:
    """Tracks what makes each product's odds trustworthy; the clock is passed in."""

    def __init__(self, alive_timeout_ms=ALIVE_TIMEOUT_MS):
        self.alive_timeout_ms = alive_timeout_ms  # no alive for this long: the product is down
        self.connected = False
        self.was_connected = False
        self.last_alive = dict.fromkeys(
            PRODUCTS
        )  # product -> when its alive came (ms, ages' clock)
        self.offset = dict.fromkeys(PRODUCTS, 0)
        self.late = dict.fromkeys(PRODUCTS, 0)  # s between its alive's own stamp and our receipt
        self.subscribed = dict.fromkeys(PRODUCTS, True)  # False: the session lost it (UOF)
        self.alived = set()  # products that had an alive before: a wait since a reconnect

    def socket(self, connected):
        self.connected = connected
        self.was_connected = self.was_connected or connected
        if not connected:
            self.last_alive = dict.fromkeys(PRODUCTS)

    def alive(self, data, now_ms, at_ms=None):
        """Record an alive (cmd 10000) received at `now_ms` (our wall clock, against which its
        own stamp is read) and `at_ms` (the clock ages are measured on; `now_ms` when not
        given); one without a product speaks for
        every product, one whose product we cannot read or do not know for none (else it could
        keep live odds up while only prematch is alive).

        Believed only as far as it says: an alive stamped long before we read it (a source or a
        relay behind) or with `subscribed` 0 (the session lost its subscription and needs a
        recovery, which this feed does not offer) keeps the product down.
        """
        products = PRODUCTS
        named = data.get("product") if isinstance(data, dict) else None
        if named is not None:
            product = fields.integer(named)
            products = (product,) if product in PRODUCTS else ()
        data = data if isinstance(data, dict) else {}
        offset = fields.offset_seconds(data.get("offset_time"), unreadable=MAX_OFFSET_S + 1)
        stamp = fields.timestamp_ms(data.get("now_alive_time"))  # 0: not sent
        late = 0 if stamp is None else max(0, now_ms - stamp) / 1000
        subscribed = fields.flag(data.get("subscribed"), default=True) is not False
        for product in products:
            self.alived.add(product)
            self.last_alive[product] = now_ms if at_ms is None else at_ms
            self.offset[product] = offset
            self.late[product] = late
            self.subscribed[product] = subscribed

    def product_up(self, product, now_ms):
        last = self.last_alive[product]
        return (
            self.connected
            and last is not None
            and now_ms - last <= self.alive_timeout_ms
            and self.offset[product] <= MAX_OFFSET_S
            and self.late[product] <= MAX_OFFSET_S
            and self.subscribed[product]
        )

    def why_down(self, product, now_ms):
        """Why the product is down, in words ("no alive for 20 s"); None while it is up."""
        if self.product_up(product, now_ms):
            return None
        if not self.connected:
            return "upstream disconnected" if self.was_connected else "upstream not connected yet"
        if self.last_alive[product] is None:
            # "no alive yet" after a reconnect read as if alives had never come.
            return "no alive since the reconnect" if product in self.alived else "no alive yet"
        if now_ms - self.last_alive[product] > self.alive_timeout_ms:
            return f"no alive for {self.alive_timeout_ms / 1000:g} s"
        if not self.subscribed[product]:
            return "the upstream lost the subscription"
        if self.late[product] > MAX_OFFSET_S:
            return f"alives arrive {self.late[product]:.0f} s after they were sent"
        return f"the source is {self.offset[product]:g} s behind"

    def describe(self, product, now_ms):
        """The product's state in words, for the log: "live odds down: no alive for 20 s"."""
        name = PRODUCT_NAMES.get(product, f"product {product}")
        why = self.why_down(product, now_ms)
        return f"{name} odds up" if why is None else f"{name} odds down: {why}"

    def report(self, now_ms, outages=None):
        """The board's view: per product, up or down and the age of its last alive; a product
        down also says why and, given the `outages`, since when."""
        products = {}
        for product in PRODUCTS:
            last = self.last_alive[product]
            info = {
                "up": self.product_up(product, now_ms),
                "alive_age_ms": None if last is None else now_ms - last,
                "offset_s": self.offset[product],
            }
            if last is None and product in self.alived:
                info["alives_before"] = True  # the age is unknown since a reconnect, not never
            if not info["up"]:
                info["reason"] = self.why_down(product, now_ms)
                since = outages.since(product) if outages is not None else None
                if since is not None:
                    info["down_since"] = since
            products[str(product)] = info
        # The timeout goes with it: a board shows a product late at half of it, and tells a
        # start-up from an outage by it, with the server's setting rather than a copy.
        return {
            "connected": self.connected,
            "products": products,
            "alive_timeout_ms": self.alive_timeout_ms,
        }

    def verdict(self, now_ms):
        """Just the up/down of each product: what changes the board when it changes."""
        return {product: self.product_up(product, now_ms) for product in PRODUCTS}


class Outages:
    """The latest outages of each product: why (in words), since when, until when.

    An outage begins when a product's verdict turns down (from the start, too: a product is down
    until its first alive) and ends when it turns up. The boards get these in the snapshot and
    with each health message that begins or ends one, so a board's log shows the same outages
    whenever it connected. Bounded: the last `kept` that ended, and those still going on.
    """

    def __init__(self, kept=OUTAGES_KEPT, startup_grace_ms=ALIVE_TIMEOUT_MS):
        self.ended = collections.deque(maxlen=kept)
        self.current = {}  # product -> its outage, while it lasts
        self.startup_grace_ms = startup_grace_ms

    def update(self, verdict, why, now_ms, startup=False):
        """Begin an outage for each product down in `verdict`, end those up again; `why(product)`
        says why one is down. Returns the outages that began or ended, as new objects.

        `startup`: the products are down because the process has just started. Such an outage
        says so (`startup`), and one that ends within `startup_grace_ms` (the time a running
        feed may go without an alive) lost nothing a running feed would not: the boards are told
        it ended, and it is not kept for their logs.
        """
        changed = []
        for product, up in verdict.items():
            outage = self.current.get(product)
            if not up and outage is None:
                outage = {
                    "product": product,
                    "reason": why(product),
                    "since": now_ms,
                    "until": None,
                    "duration_ms": None,
                }
                if startup:
                    outage["startup"] = True
                self.current[product] = outage
                changed.append(outage)
            elif up and outage is not None:
                del self.current[product]
                # A new object: the one already sent (and in a snapshot being written) stays as
                # it was. The clock may have stepped back: a duration is never negative.
                ended = outage | {"until": now_ms, "duration_ms": max(0, now_ms - outage["since"])}
                if not (outage.get("startup") and ended["duration_ms"] <= self.startup_grace_ms):
                    self.ended.append(ended)
                changed.append(ended)
        return changed

    def since(self, product):
        """When the product's current outage began; None while it is up."""
        outage = self.current.get(product)
        return None if outage is None else outage["since"]

    def recent(self):
        """Every outage remembered, oldest first."""
        return sorted([*self.ended, *self.current.values()], key=lambda outage: outage["since"])
