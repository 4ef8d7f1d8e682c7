"""Flask's signed-cookie session, opened only when the request brings its cookie."""

from flask import request
from flask.sessions import SecureCookieSessionInterface


class CookieSessionWhenSent(SecureCookieSessionInterface):
    """Open the session cookie only if the request carries a Cookie header.

    Flask opens the session on every request. Nothing the provider or the feed sends carries a
    cookie, yet building the cookie signer and parsing the headers for it took ~5% of a wallet
    callback's CPU. A request without cookies gets the empty session Flask would have given it.
    """

    def open_session(self, app, request):
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app):
        # Secure whenever the page was served over HTTPS: behind the platform's router that is
        # known from X-Forwarded-Proto, trusted through PROXY_HOPS.
        return super().get_cookie_secure(app) or request.is_secure
