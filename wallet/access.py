"""Who may call the wallet: an IP allowlist, a shared secret and the maintenance switch."""

import hmac
import ipaddress

from .codes import Failure
from .errors import WalletError


class Gate:
    """Refuse a callback before it touches the database, or let it through."""

    def __init__(self, allowed_ips, secret, secret_header, maintenance):
        self.networks = [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in allowed_ips]
        # The bytes the operator configured: an environment variable's own bytes come back
        # from its text with surrogateescape.
        self.secret = secret.encode("utf-8", "surrogateescape")
        self.secret_header = secret_header
        self.maintenance = maintenance

    def check(self, remote_addr, headers):
        """Raise WalletError if this caller may not move money now."""
        if self.networks and not self._allowed(remote_addr):
            raise WalletError(Failure.FORBIDDEN_ADDRESS, f"address {remote_addr} is not allowed")
        if self.secret:
            offered = _as_sent(headers.get(self.secret_header, ""))
            # Constant time, so the secret cannot be guessed a byte at a time from timings.
            if not hmac.compare_digest(offered, self.secret):
                raise WalletError(Failure.BAD_SECRET, f"missing or wrong {self.secret_header}")
        if self.maintenance:
            raise WalletError(Failure.MAINTENANCE, "wallet under maintenance, retry later")

    def _allowed(self, remote_addr):
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _as_sent(value):
    """A header's bytes as they arrived: WSGI hands headers over decoded as latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server: no bytes could have sent it
        return b""
