"""Market descriptions: the shipped table, an operator's JSON or markets.xml, and lines' names."""

import json

import pytest

from feed.market.descriptions import MAX_TRACKED, MarketDescriptions
from tests.descriptions_xml import MARKETS_XML

SHIPPED = MarketDescriptions.load()


@pytest.mark.parametrize(
    ("market_id", "specifiers", "market", "outcomes"),
    [
        # football
        (1, "", "1x2", {"1": "{$competitor1}", "2": "X", "3": "{$competitor2}"}),
        (18, "total=2.5", "Total", {"12": "Over 2.5", "13": "Under 2.5"}),
        (
            16,
            "hcp=-0.5",
            "Handicap",
            {"1714": "{$competitor1} (-0.5)", "1715": "{$competitor2} (+0.5)"},
        ),
        (
            14,
            "hcp=0:1",
            "Handicap 0:1",
            {"1711": "{$competitor1} (0:1)", "1712": "Draw (0:1)", "1713": "{$competitor2} (0:1)"},
        ),
        (29, "", "Both teams to score", {"74": "Yes", "76": "No"}),
        (8, "goalnr=2", "2nd goal", {"6": "{$competitor1}", "7": "None", "8": "{$competitor2}"}),
        (10, "", "Double chance", {"9": "{$competitor1} or draw", "11": "Draw or {$competitor2}"}),
        (166, "total=9.5", "Total corners", {"12": "Over 9.5"}),
        (19, "total=1.5", "{$competitor1} total", {"13": "Under 1.5"}),
        (26, "", "Odd/even", {"70": "Odd", "72": "Even"}),
        # basketball
        (219, "", "Winner (incl. overtime)", {"4": "{$competitor1}", "5": "{$competitor2}"}),
        (223, "hcp=4.5", "Handicap (incl. overtime)", {"1714": "{$competitor1} (+4.5)"}),
        (236, "quarternr=3|total=40.5", "3rd quarter - total", {"12": "Over 40.5"}),
        # tennis
        (186, "", "Winner", {"4": "{$competitor1}"}),
        (202, "setnr=2", "2nd set - winner", {"5": "{$competitor2}"}),
        (204, "setnr=1|total=9.5", "1st set - total games", {"13": "Under 9.5"}),
        (187, "hcp=-2.5", "Game handicap", {"1715": "{$competitor2} (+2.5)"}),
        # ice hockey
        (406, "", "Winner (incl. overtime and penalties)", {"4": "{$competitor1}"}),
        (443, "periodnr=1", "1st period - 1x2", {"2": "X"}),
        (446, "periodnr=3|total=1.5", "3rd period - total", {"12": "Over 1.5"}),
    ],
)
def test_the_shipped_table_names_the_common_markets(market_id, specifiers, market, outcomes):
    assert SHIPPED.market_name(market_id, specifiers) == market
    for outcome_id, name in outcomes.items():
        assert SHIPPED.outcome_name(market_id, specifiers, outcome_id) == name
    assert SHIPPED.report()["unknown_markets"] == 0


def test_a_name_the_feed_sends_wins_over_the_template():
    descriptions = MarketDescriptions.load()
    assert descriptions.market_name(18, "total=2.5", "Goals over/under") == "Goals over/under"
    assert descriptions.market_name(18, "total=2.5", "Goals {total}") == "Goals 2.5"
    assert descriptions.outcome_name(18, "total=2.5", "12", "Más de 2.5") == "Más de 2.5"
    assert descriptions.market_name(18, "total=2.5", "") == "Total"


def test_unknown_markets_and_outcomes_read_as_words_and_are_counted():
    descriptions = MarketDescriptions.load()
    assert descriptions.market_name(5555, "total=2.5") == "Market 5555"
    assert descriptions.market_name(5555, "total=3.5") == "Market 5555"  # one market, counted once
    # An unknown market's outcomes still read by their usual meaning, or as a labelled id.
    assert descriptions.outcome_name(5555, "total=2.5", "12") == "Over 2.5"
    assert descriptions.outcome_name(5555, "", "99999") == "Outcome 99999"
    assert descriptions.outcome_name(5555, "", "sr:player:42") == "Player 42"
    # A known market with an outcome its description lacks.
    assert descriptions.outcome_name(18, "total=2.5", "74") == "Yes"
    assert descriptions.outcome_name(29, "", "1234") == "Outcome 1234"
    # A template whose specifier is missing.
    assert descriptions.market_name(8, "") == "? goal"
    report = descriptions.report()
    assert report["unknown_markets"] == 1
    assert report["unknown_outcomes"] == 2
    assert report["unfilled_templates"] == 1
    assert report["examples"] == {
        "markets": ["5555"],
        "outcomes": ["18:74", "29:1234"],
        "templates": ["{!goalnr} goal"],
    }


def test_what_is_remembered_of_unknowns_is_bounded():
    descriptions = MarketDescriptions({})
    for market_id in range(MAX_TRACKED + 500):
        descriptions.market_name(market_id, "")
    assert descriptions.report()["unknown_markets"] == MAX_TRACKED


def test_names_are_cut_to_what_the_database_and_a_cell_hold():
    descriptions = MarketDescriptions({})
    assert len(descriptions.market_name(1, "", "x" * 5000)) == 200
    assert len(descriptions.outcome_name(1, "", "1", "y" * 5000)) == 100


def test_a_markets_xml_file_loads_names_groups_and_outcomes(tmp_path):
    path = tmp_path / "markets.xml"
    path.write_text(MARKETS_XML, encoding="utf-8")
    descriptions = MarketDescriptions.load(path)
    assert descriptions.name(1) == "1x2"
    assert descriptions.groups(62) == ("all", "score", "1st_half")
    assert descriptions.groups(901) is None  # unknown groups: a partial BetStop stops it
    assert descriptions.market_name(62, "goalnr=3") == "1st half - 3rd goal"
    assert descriptions.outcome_name(62, "goalnr=3", "7") == "None"
    assert descriptions.market_name(900, "xth=2") == "Exotic 2nd thing"
    assert descriptions.outcome_name(900, "xth=2", "2") == "Other way"
    assert descriptions.name(18) == ""  # the file replaces the shipped table


def test_a_markets_xml_with_entities_is_refused(tmp_path):
    path = tmp_path / "markets.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]>'
        '<market_descriptions><market id="1" name="&a;"/></market_descriptions>',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="DTD"):
        MarketDescriptions.load(path)


def test_an_xml_file_that_is_not_market_descriptions_is_refused(tmp_path):
    path = tmp_path / "markets.xml"
    path.write_text("<match_status_descriptions/>", encoding="utf-8")
    with pytest.raises(ValueError, match="match_status_descriptions"):
        MarketDescriptions.load(path)


def test_an_operators_json_file_with_outcomes_loads(tmp_path):
    path = tmp_path / "markets.json"
    path.write_text(
        json.dumps(
            {"18": {"name": "Goals", "groups": ["all"], "outcomes": {"12": "more than {total}"}}}
        ),
        encoding="utf-8",
    )
    descriptions = MarketDescriptions.load(path)
    assert descriptions.outcome_name(18, "total=2.5", "12") == "More than 2.5"
    assert descriptions.groups(18) == ("all",)


@pytest.mark.parametrize(
    "entry",
    [
        "1x2",
        {"name": 5},
        {"name": "x", "groups": "all"},
        {"name": "x", "outcomes": {"1": 2}},
        {"name": "x", "outcomes": ["a"]},
    ],
)
def test_a_json_file_of_the_wrong_shape_fails_the_load_loudly(entry):
    with pytest.raises(ValueError, match="market 1"):
        MarketDescriptions({"1": entry})


def test_the_shipped_groups_keep_the_names_used_before_and_add_sportradars():
    # More groups is the safe side: a BetStop naming either stops the line.
    assert {"corner", "corners"} <= set(SHIPPED.groups(166))
    assert {"booking", "bookings"} <= set(SHIPPED.groups(139))
    assert {"incl_ot", "incl_ot_and_pen"} <= set(SHIPPED.groups(406))
