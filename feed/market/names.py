"""Name templates: a market's or outcome's name filled from its line's specifiers.

Sportradar's market descriptions write names as templates with expressions in braces, evaluated
against the line's specifiers (`hcp=-1.5|total=2.5`) and the event:

    {total}          the specifier's value                        "over {total}" -> "over 2.5"
    {+hcp} {-hcp}    the value, or its negation, with its sign     "+1.5", "-0.25", "0"
    {!goalnr}        an ordinal                                    "{!goalnr} goal" -> "2nd goal"
    {(minute-1)}     arithmetic on a specifier (also {goalnr+1},   "{!(inningnr+1)} inning"
                     with or without parentheses, any operator)
    {$competitor1} {$competitor2} {$event}
                     the event's competitors and name
    {%player}        a player's name, from a specifier holding the player's id

Pure functions, no I/O: the feed names lines with them as odds arrive, the tests call them directly.
"""

import re
from decimal import Decimal, InvalidOperation

ENTITIES = ("competitor1", "competitor2", "event")
MAX_TEMPLATE = 400  # descriptions' names are a few dozen characters; refuse to scan a novel
MAX_DIGITS = 15  # a specifier's magnitude, either side of the point: no line's value has more
OPERAND = re.compile(r"^(\()?([A-Za-z_][A-Za-z0-9_]*)(?:([+-])(\d{1,6}))?(\))?$")


class TemplateError(ValueError):
    """A template that cannot be filled from what is known: unbalanced, or a specifier missing."""


def parse_specifiers(text):
    """'hcp=-1.5|total=2.5' -> {'hcp': '-1.5', 'total': '2.5'}; parts without '=' are ignored."""
    specifiers = {}
    for part in (text or "").split("|"):
        name, equals, value = part.partition("=")
        if equals and name.strip():
            specifiers[name.strip()] = value.strip()
    return specifiers


def ordinal(number):
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    if 10 <= abs(number) % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(number) % 10, "th")
    return f"{number}{suffix}"


def number_text(value):
    """A Decimal as people write it: 2.50 -> '2.5', 3.0 -> '3', -0 -> '0'."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def signed(value):
    """A Decimal with its sign: 1.5 -> '+1.5', -0.25 -> '-0.25', 0 -> '0'."""
    text = number_text(value)
    return f"+{text}" if value > 0 else text


def fill(template, specifiers, entities=None, players=None, lenient=False):
    """Fill every expression of `template` from `specifiers` (a dict of strings).

    `entities` maps competitor1 / competitor2 / event to names; an entity without a name is left
    as written, for whoever knows the event to fill. `players` maps a player's (or competitor's)
    id to a name; an unknown one reads "player 123" for sr:player:123. A failing expression
    raises TemplateError, or with `lenient` reads "?" so that the rest of the name still shows.
    """
    if len(template) > MAX_TEMPLATE:
        raise TemplateError(f"template longer than {MAX_TEMPLATE} characters")
    out = []
    position = 0
    while True:
        start = template.find("{", position)
        end = template.find("}", position)
        if start < 0 and end < 0:
            out.append(template[position:])
            return "".join(out)
        if start < 0 or end < start or "{" in template[start + 1 : end]:
            if lenient:
                out.append(template[position:].replace("{", "").replace("}", ""))
                return "".join(out)
            raise TemplateError(f"unbalanced braces in {template!r}")
        out.append(template[position:start])
        expression = template[start : end + 1]
        try:
            out.append(_evaluate(expression, specifiers, entities, players))
        except TemplateError:
            if not lenient:
                raise
            out.append("?")
        position = end + 1


def _evaluate(expression, specifiers, entities, players):
    body = expression[1:-1]
    operator = body[:1] if body[:1] in "+-!$%" else ""
    operand = body[len(operator) :]
    if operator == "$":
        if operand not in ENTITIES:
            raise TemplateError(f"unknown entity in {expression}")
        name = (entities or {}).get(operand)
        return name if name else expression
    if operator == "%":
        profile = _specifier(specifiers, operand, expression)
        name = (players or {}).get(profile)
        if name:
            return name
        parts = profile.split(":")  # sr:player:123 -> "player 123"
        return f"{parts[1]} {parts[2]}" if len(parts) == 3 else profile
    match = OPERAND.match(operand)
    if match is None or bool(match.group(1)) != bool(match.group(5)):
        raise TemplateError(f"cannot read {expression}")
    _, name, sign, amount, _ = match.groups()
    raw = _specifier(specifiers, name, expression)
    if operator == "" and sign is None:
        return raw  # a plain value is shown as the feed wrote it
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise TemplateError(f"{name}={raw!r} is not a number for {expression}") from None
    if not value.is_finite():
        raise TemplateError(f"{name}={raw!r} is not a number for {expression}")
    if value and not -MAX_DIGITS <= value.adjusted() <= MAX_DIGITS:
        # 1e1000000 is a number: written out, a million digits (and an Overflow in arithmetic).
        raise TemplateError(f"{name}={raw[:40]!r} has too many digits for {expression}")
    if sign is not None:
        value = value + int(amount) if sign == "+" else value - int(amount)
    if operator == "+":
        return signed(value)
    if operator == "-":
        return signed(-value)
    if operator == "!":
        if value != value.to_integral_value():
            raise TemplateError(f"{name}={raw!r} is not a whole number for {expression}")
        return ordinal(int(value))
    return number_text(value)


def _specifier(specifiers, name, expression):
    value = specifiers.get(name)
    if value is None or value == "":
        raise TemplateError(f"no specifier {name!r} for {expression}")
    return value
