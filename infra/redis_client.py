"""The one way this app makes a Redis client: fails fast, never retries behind our back."""

import ssl


def redis_client(url, verify=True, ca_certs="", timeout=5.0):
    """A redis-py client that fails fast and never retries behind our back.

    redis-py would otherwise reconnect and resubscribe silently, hiding the very gap the web
    workers must see to resync; every reconnect here is ours, with backoff and jitter.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 0),
        "client_name": "dashboard",
    }
    if url.startswith("rediss://"):
        if ca_certs:
            options["ssl_ca_certs"] = ca_certs
        if not verify:
            # The platform's Redis presents a self-signed certificate: encrypted, not verified.
            options |= {"ssl_cert_reqs": ssl.CERT_NONE, "ssl_check_hostname": False}
    return redis.Redis.from_url(url, **options)
