"""Feed health per product: is the socket up, has an alive come lately, is the source on time."""

from . import fields
from .market import PRODUCTS

PRODUCT_NAMES = {1: "live", 3: "prematch"}
ALIVE_TIMEOUT_MS = 20_000  # no alive for 20 s: the feed is down
MAX_OFFSET_S = 20  # an alive whose offset_time exceeds 20 s: the odds source is down


class FeedHealth:
    """Tracks what makes each product's odds trustworthy; the clock is passed in."""

    def __init__(self):
        self.connected = False
        self.last_alive = dict.fromkeys(PRODUCTS)  # product -> our receive time (ms) of its alive
        self.offset = dict.fromkeys(PRODUCTS, 0)

    def socket(self, connected):
        self.connected = connected
        if not connected:
            self.last_alive = dict.fromkeys(PRODUCTS)

    def alive(self, data, now_ms):
        """Record an alive (cmd 10000); one without a product speaks for every product, one
        whose product we cannot read or do not know for none (else it could keep live odds up
        while only prematch is alive)."""
        products = PRODUCTS
        named = data.get("product") if isinstance(data, dict) else None
        if named is not None:
            product = fields.integer(named)
            products = (product,) if product in PRODUCTS else ()
        raw = data.get("offset_time") if isinstance(data, dict) else None
        offset = fields.offset_seconds(raw, unreadable=MAX_OFFSET_S + 1)  # unreadable: behind
        for product in products:
            self.last_alive[product] = now_ms
            self.offset[product] = offset

    def product_up(self, product, now_ms):
        last = self.last_alive[product]
        return (
            self.connected
            and last is not None
            and now_ms - last <= ALIVE_TIMEOUT_MS
            and self.offset[product] <= MAX_OFFSET_S
        )

    def describe(self, product, now_ms):
        """The product's state in words, for the log: "live odds down: no alive for 20 s"."""
        name = PRODUCT_NAMES.get(product, f"product {product}")
        if self.product_up(product, now_ms):
            return f"{name} odds up"
        if not self.connected:
            why = "upstream disconnected"
        elif self.last_alive[product] is None:
            why = "no alive yet"
        elif now_ms - self.last_alive[product] > ALIVE_TIMEOUT_MS:
            why = f"no alive for {ALIVE_TIMEOUT_MS // 1000} s"
        else:
            why = f"the source is {self.offset[product]:g} s behind"
        return f"{name} odds down: {why}"

    def report(self, now_ms):
        """The board's view: per product, up or down and the age of its last alive."""
        return {
            "connected": self.connected,
            "products": {
                str(product): {
                    "up": self.product_up(product, now_ms),
                    "alive_age_ms": None
                    if self.last_alive[product] is None
                    else now_ms - self.last_alive[product],
                    "offset_s": self.offset[product],
                }
                for product in PRODUCTS
            },
        }

    def verdict(self, now_ms):
        """Just the up/down of each product: what changes the board when it changes."""
        return {product: self.product_up(product, now_ms) for product in PRODUCTS}
