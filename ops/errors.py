"""The app's own error answers: the status and a word or two, never a traceback."""

import logging

from flask import render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)
JSON_PATHS = ("/feed/", "/ready", "/metrics", "/health", "/wallet/")


def error_answer(error):
    """An HTTP error as JSON for the API paths and as a small page for the rest."""
    if not isinstance(error, HTTPException):  # reached only through the 500 handler below
        error = InternalServerError()
    status = error.code or 500
    if request.path.startswith(JSON_PATHS) or request.accept_mimetypes.best == "application/json":
        return {"error": error.name.lower()}, status
    return render_template("error.html", status=status, name=error.name), status


def init_app(app):
    # Registered for each HTTP error and for 500: an unexpected exception reaches the 500
    # handler with the original only in `original_exception`, already logged by Flask.
    app.register_error_handler(HTTPException, error_answer)
    app.register_error_handler(InternalServerError, error_answer)
