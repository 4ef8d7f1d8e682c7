"""The exception a wallet operation raises to refuse a callback without moving money."""


class WalletError(Exception):
    """A refused callback: which failure it is and the desc the provider reads."""

    def __init__(self, failure, desc):
        super().__init__(desc)
        self.failure = failure
        self.desc = desc
