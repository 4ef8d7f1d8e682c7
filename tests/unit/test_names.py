"""Name templates filled from specifiers: each expression form of Sportradar's descriptions."""

from decimal import Decimal

import pytest

from feed.market.names import TemplateError, fill, number_text, ordinal, parse_specifiers, signed


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (0, "0th"),
    ],
)
def test_ordinals(number, text):
    assert ordinal(number) == text


@pytest.mark.parametrize(
    ("value", "plus", "minus"),
    [
        ("1.5", "+1.5", "-1.5"),
        ("-1.5", "-1.5", "+1.5"),
        ("0", "0", "0"),
        ("-0", "0", "0"),
        ("0.25", "+0.25", "-0.25"),
        ("-0.75", "-0.75", "+0.75"),
        ("2.50", "+2.5", "-2.5"),
        ("3", "+3", "-3"),
    ],
)
def test_signed_values(value, plus, minus):
    assert fill("{+hcp}", {"hcp": value}) == plus
    assert fill("{-hcp}", {"hcp": value}) == minus
    assert signed(Decimal(value)) == plus


def test_number_text_never_uses_exponents():
    assert number_text(Decimal("1E+1")) == "10"
    assert number_text(Decimal("2.500")) == "2.5"


@pytest.mark.parametrize(
    ("template", "specifiers", "name"),
    [
        ("Total", "", "Total"),
        ("over {total}", "total=2.5", "over 2.5"),
        ("under {total}", "total=160.5", "under 160.5"),
        ("Handicap {hcp}", "hcp=0:1", "Handicap 0:1"),  # a plain value is shown as written
        ("{$competitor1} ({+hcp})", "hcp=-0.5", "{$competitor1} (-0.5)"),
        ("{$competitor2} ({-hcp})", "hcp=-0.5", "{$competitor2} (+0.5)"),
        ("{!goalnr} goal", "goalnr=2", "2nd goal"),
        ("{!setnr} set - total games", "setnr=3|total=9.5", "3rd set - total games"),
        ("{!periodnr} period - 1x2", "periodnr=1", "1st period - 1x2"),
        ("{!(inningnr+1)} inning", "inningnr=1", "2nd inning"),
        ("{!(inningnr+2)} inning", "inningnr=7", "9th inning"),
        ("00:00 - {(minute-1)}:59", "minute=10", "00:00 - 9:59"),
        ("{goalnr+1} goals", "goalnr=2", "3 goals"),
        ("{!goalnr+1} goal", "goalnr=2", "3rd goal"),
        ("{%player} to score", "player=sr:player:123", "player 123 to score"),
        ("{%competitor1} wins", "competitor1=sr:competitor:9", "competitor 9 wins"),
        ("{!mapnr} map - {!xth} dragon", "mapnr=1|xth=3", "1st map - 3rd dragon"),
    ],
)
def test_templates_fill_from_the_lines_specifiers(template, specifiers, name):
    assert fill(template, parse_specifiers(specifiers)) == name


def test_entities_fill_when_known_and_stay_for_the_board_when_not():
    entities = {"competitor1": "Arsenal", "competitor2": "Benfica", "event": "Arsenal v Benfica"}
    template = "{$competitor1} or {$competitor2} ({$event})"
    assert fill(template, {}, entities) == "Arsenal or Benfica (Arsenal v Benfica)"
    assert fill(template, {}) == template
    assert fill(template, {}, {"competitor1": "Arsenal"}) == (
        "Arsenal or {$competitor2} ({$event})"
    )


def test_a_known_player_reads_by_name():
    players = {"sr:player:123": "Bukayo Saka"}
    assert fill("{%player} to score", {"player": "sr:player:123"}, players=players) == (
        "Bukayo Saka to score"
    )


@pytest.mark.parametrize(
    ("template", "specifiers"),
    [
        ("{!goalnr} goal", {}),  # the specifier is missing
        ("over {total}", {"total": ""}),
        ("{+hcp}", {"hcp": "abc"}),  # not a number
        ("{+hcp}", {"hcp": "NaN"}),
        ("{!setnr} set", {"setnr": "1.5"}),  # no ordinal of a fraction
        ("{$score}", {}),  # not an entity
        ("{(minute-1}", {"minute": "3"}),  # unbalanced parenthesis
        ("{total", {"total": "2.5"}),  # unbalanced brace
        ("total}", {"total": "2.5"}),
        ("{{total}}", {"total": "2.5"}),
        ("{a b}", {}),
    ],
)
def test_what_cannot_be_filled_raises_or_reads_a_question_mark(template, specifiers):
    with pytest.raises(TemplateError):
        fill(template, specifiers)
    lenient = fill(template, specifiers, lenient=True)
    assert "{" not in lenient
    assert "}" not in lenient


def test_lenient_fill_keeps_the_rest_of_the_name():
    assert fill("{!goalnr} goal", {}, lenient=True) == "? goal"
    assert fill("over {total", {"total": "2.5"}, lenient=True) == "over total"


def test_a_huge_template_is_refused_before_it_is_scanned():
    with pytest.raises(TemplateError):
        fill("{total}" * 1000, {"total": "1"})


def test_specifiers_parse_whatever_their_shape():
    assert parse_specifiers("hcp=-1.5|total=2.5") == {"hcp": "-1.5", "total": "2.5"}
    assert parse_specifiers("") == {}
    assert parse_specifiers(None) == {}
    assert parse_specifiers("variant=sr:exact_goals:4+|junk|=3") == {"variant": "sr:exact_goals:4+"}
