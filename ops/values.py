"""Query-string and form values without NUL characters, which PostgreSQL refuses in text.

The app's requests hold every query string and form they parse in TextValues, which refuse one
with a NUL: wherever a view reads them, before any value reaches the database (the login's
username, the BetStop log's event id), the answer is 400 instead of a 500 there. They are parsed
when a view asks, as Flask does: a view that reads its body otherwise (the wallet's JSON) keeps it.
"""

import flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest


class TextValues(ImmutableMultiDict):
    """A query string's or a form's names and values; BadRequest for a NUL in one."""

    def __init__(self, mapping=None):
        super().__init__(mapping)
        for name, value in self.items(multi=True):
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise BadRequest("a NUL character in a query-string or form value")


class Request(flask.Request):
    """Flask's request, its query string and form held in TextValues."""

    parameter_storage_class = TextValues
