"""Frames are parsed by orjson first, with the standard library's hooked parse behind it: every
text reads exactly as it did with the standard library alone, and a large frame's check of what
was parsed is done in steps that let the rest of the process run."""

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench import bursts
from feed.upstream import fields, frames
from feed.upstream.frames import FrameError

# The parse as it was: the standard library's reading first, the hooked one when a walk finds in
# it a non-finite float, an integer out of range or nesting too deep, or when it did not parse.


def finished(steps):
    """What a generator of steps returns, its steps run at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def load(text):
    """frames' parse of `text`, its steps run at once."""
    return finished(frames._load_in_steps(text, None))


def walked(value, numbers):
    """frames' walk of `value` at once: plain (`numbers`), or nested within MAX_DEPTH."""
    return finished(frames._walk(value, frames.MAX_DEPTH, None, numbers))


def stdlib_parse(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def stdlib_walk(value, limit, numbers=True):
    """Whether `value` nests within `limit` and, with `numbers`, holds no number the hooks
    would read otherwise: the check as it was before frames checked in steps."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif not numbers:
                continue
            elif kind is float:
                if child - child != 0:
                    return False
            elif kind is int and not -fields.INT_LIMIT < child < fields.INT_LIMIT:
                return False
    return True


def stdlib_load(text):
    parsed = stdlib_parse(text)
    if type(parsed) in (dict, list) and stdlib_walk(parsed, frames.MAX_DEPTH):
        return parsed
    try:
        value = json.loads(
            text,
            parse_constant=frames._as_text,
            parse_float=frames._finite_float,
            parse_int=frames._bounded_int,
        )
    except RecursionError:
        raise FrameError("too_deep", f"nesting beyond {frames.MAX_DEPTH}") from None
    except ValueError as exc:
        raise FrameError("bad_json", str(exc)[:200]) from None
    depth = frames.MAX_DEPTH
    if text.count("[") + text.count("{") > depth and not stdlib_walk(value, depth, numbers=False):
        raise FrameError("too_deep", f"nesting beyond {depth}")
    return value


def exact(value):
    """`value` with every type, float bit, key and key order told apart (-0.0 from 0, 1 from
    1.0, {"a": 1, "b": 2} from {"b": 2, "a": 1})."""
    kind = type(value)
    if kind is dict:
        return ("object", tuple((key, exact(item)) for key, item in value.items()))
    if kind is list:
        return ("array", tuple(exact(item) for item in value))
    if kind is float:
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (kind.__name__, value)


def outcome(read, text):
    try:
        return ("value", exact(read(text)))
    except FrameError as exc:
        return ("refused", exc.kind, str(exc))


def assert_read_as_before(text):
    assert outcome(load, text) == outcome(stdlib_load, text)


# JSON texts, as an upstream may write them: numbers of every size and form, the constants JSON
# has not, strings with escapes and surrogates, repeated keys, nesting about MAX_DEPTH deep.

integers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) + 1, -(2**63), -(2**63) - 1]),
    st.integers(19, 400).map(lambda n: "9" * n),
).map(str)
float_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,20})\.[0-9]{1,30}([eE][-+]?[0-9]{1,3})?\Z"),
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["", "-"]),
        st.from_regex(r"\A(0|[1-9][0-9]{0,25})\Z"),
        st.sampled_from(["", ".5", ".0", ".000000000000000000001", ".9999999999999999999"]),
        st.sampled_from(["", "e0", "E+2", "e-5", "e18", "e19", "e308", "e309", "e-324", "e999"]),
    ),
    st.sampled_from(
        [
            "-0",
            "-0.0",
            "1e999",
            "-1e999",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "2.2250738585072011e-308",
            "4.9e-324",
            "2.4703282292062328e-324",
            "9223372036854775808.0",
            "9.223372036854775807e18",
            "-9223372036854775809e0",
            "9007199254740993.0",
            "1.00000000000000011102230246251565404236316680908203125",
        ]
    ),
    st.integers(300, 400).map(lambda zeros: "1" + "0" * zeros + ".0"),
    st.integers(300, 400).map(lambda zeros: "0." + "0" * zeros + "1"),
)
constants = st.sampled_from(["NaN", "Infinity", "-Infinity", "true", "false", "null"])
string_texts = st.one_of(
    st.text(max_size=12).map(json.dumps),
    st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(
        [
            '"\\ud800"',
            '"\\udc00"',
            '"a\\ud800b"',
            '"\\udc00\\ud800"',
            '"\\ud83d\\ude00"',
            '"\ud800"',
            '"\x00"',
            '"\\u0000"',
            '"\\x"',
            '"\\/\\b\\f\\n\\r\\t"',
            '"\u2028\ufeff"',
            '"\\"',
        ]
    ),
)
keys = st.one_of(st.sampled_from(['"a"', '"b"', '"id"', '"\\ud800"']), string_texts)
spaces = st.sampled_from(["", " ", "\n\t\r ", "\x0c", "\xa0"])


def containers(children):
    def array(items, space):
        return "[" + space + ",".join(items) + space + "]"

    def obj(pairs, space):
        return "{" + ",".join(f"{key}{space}:{space}{item}" for key, item in pairs) + "}"

    return st.one_of(
        st.builds(array, st.lists(children, max_size=5), spaces),
        st.builds(obj, st.lists(st.tuples(keys, children), max_size=5), spaces),
    )


json_texts = st.recursive(
    st.one_of(integers, float_texts, constants, string_texts), containers, max_leaves=25
)
# Most frames hold nothing orjson refuses: those are read by orjson alone.
plain_texts = st.recursive(
    st.one_of(
        st.integers(-(2**62), 2**62).map(str),
        st.floats(-1e18, 1e18).map(repr),
        st.from_regex(r"\A-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,25})?([eE][-+]?1?[0-9])?\Z"),
        st.sampled_from(["true", "false", "null"]),
        st.text(max_size=12).map(json.dumps),
    ),
    containers,
    max_leaves=25,
)


@st.composite
def nested(draw):
    """A text inside arrays and objects as deep as MAX_DEPTH, a little less or a little more."""
    depth = draw(st.integers(0, frames.MAX_DEPTH + 3))
    text = draw(json_texts)
    for level in range(depth):
        text = f"[{text}]" if draw(st.booleans()) else f'{{"k{level}":{text}}}'
    return text


@st.composite
def damaged(draw):
    """A text with a character left out, added or changed: what a broken upstream sends."""
    text = draw(json_texts)
    at = draw(st.integers(0, len(text)))
    change = draw(st.sampled_from(["cut", "drop", "insert"]))
    if change == "cut":
        return text[:at]
    if change == "drop":
        return text[:at] + text[at + 1 :]
    return text[:at] + draw(st.sampled_from(list('{}[]",:\\.eE-+0 \ufeff\ud800'))) + text[at:]


texts = st.one_of(
    plain_texts,
    json_texts,
    nested(),
    damaged(),
    st.builds("{}{}{}".format, spaces, json_texts, spaces),
)


@settings(max_examples=1500, deadline=None)
@given(text=texts)
@example(text='{"a": 1, "b": 2, "a": 3}')
@example(text='{"a": 18446744073709551616}')
@example(text="[-9223372036854775809]")
@example(text="[-9223372036854775808]")
@example(text="[9223372036854775808, 18446744073709551615]")
@example(text='{"odds": 1e999, "n": NaN, "i": -Infinity}')
@example(text='["\\ud800", {"\\udc00": 1}]')
@example(text='["\ud800"]')
@example(text="\ufeff[]")
@example(text="[1.0, -0.0, -0, 1E2, 0.1e1, 1e-400]")
@example(text="[" + "1" * 5_000 + "]")
@example(text="[1" + "0" * 400 + ".5]")
def test_every_text_reads_as_with_the_standard_library_alone(text):
    assert_read_as_before(text)


@pytest.mark.parametrize("depth", [31, 32, 33, 500, 990, 1_023, 1_024, 1_025, 1_100, 20_000])
def test_deep_nesting_reads_as_with_the_standard_library_alone(depth):
    # orjson refuses past 1,024 levels, the standard library past its recursion limit.
    assert_read_as_before("[" * depth + "]" * depth)
    assert_read_as_before('{"a":' * depth + "1" + "}" * depth)


def test_a_large_odds_change_reads_as_with_the_standard_library_alone():
    raw = bursts.huge_odds_change(bursts.event_id(0), 20_000, 1_764_843_686_186)
    # As text: every type, key order and float told apart, without a walk of 20,000 lines.
    assert json.dumps(load(raw)) == json.dumps(stdlib_load(raw))
    assert json.dumps(frames.decode(raw).data) == json.dumps(json.loads(raw)["data"])


def test_a_large_odds_change_with_one_number_json_cannot_carry_reads_as_before():
    raw = bursts.huge_odds_change(bursts.event_id(0), 2_000, 1_764_843_686_186)
    for number in ("NaN", "1e999", "18446744073709551616", "-9223372036854775809", str(2**63)):
        text = raw.replace('"odds":', f'"odds":{number},"was":', 1)
        assert_read_as_before(text)
        assert frames.decode(text).data["odds_markets"][0]["outcomes"][0]["odds"] == number


# The walk over what was parsed, in steps --------------------------------------------------------


def steps_of(raw):
    steps = list(frames.decode_in_steps(raw))
    assert all(step is None for step in steps[:-1])
    return len(steps) - 1, steps[-1]


def test_a_large_frame_is_decoded_in_steps(monkeypatch):
    raw = bursts.huge_odds_change(bursts.event_id(0), 2_000, 1_764_843_686_186)
    monkeypatch.setattr(frames, "WALK_STEP", 1_000)
    steps = list(frames.decode_in_steps(raw))
    assert all(step is None for step in steps[:-1])
    # Parsing, then the walk: 2,000 lines of 11 values each (their outcomes' included), about
    # 22 steps of 1,000.
    assert len(steps) - 1 > 20
    assert steps[-1] == frames.decode(raw)


def test_data_encoded_twice_is_decoded_in_steps_too(monkeypatch):
    raw = bursts.huge_odds_change(bursts.event_id(0), 2_000, 1_764_843_686_186)
    data = json.loads(raw)["data"]
    twice = json.dumps({"cmd": frames.ODDS_CHANGE, "time": 5, "data": json.dumps(data)})
    monkeypatch.setattr(frames, "WALK_STEP", 1_000)
    steps = list(frames.decode_in_steps(twice))
    # The frame's parse and walk (one short string), then the data's: about 22 steps of 1,000.
    assert len(steps) - 1 > 20
    assert steps[-1] == frames.Frame(frames.ODDS_CHANGE, 5, data)


def test_a_large_frame_parsed_again_with_the_hooks_is_checked_in_steps_too(monkeypatch):
    raw = bursts.huge_odds_change(bursts.event_id(0), 2_000, 1_764_843_686_186)
    text = raw.replace('"odds":', '"odds":NaN,"was":', 1)
    monkeypatch.setattr(frames, "WALK_STEP", 1_000)
    steps = list(frames.decode_in_steps(text))
    # orjson refuses it at once; the hooked parse is one step, its walk for nesting about 22.
    assert len(steps) - 1 > 20
    assert steps[-1] == frames.decode(text)
    assert steps[-1].data["odds_markets"][0]["outcomes"][0]["odds"] == "NaN"


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(json_texts, nested()), step=st.integers(1, 10), numbers=st.booleans())
def test_the_walk_in_steps_comes_to_the_walk_at_once_verdict(text, step, numbers):
    value = frames._parse(text)
    if type(value) not in (dict, list):
        value = stdlib_parse(text)  # the hooked parse's values are walked too, for nesting
    if type(value) not in (dict, list):
        return
    verdict = finished(frames._walk(value, frames.MAX_DEPTH, step, numbers))
    at_once = walked(value, numbers)
    assert verdict == at_once
    if not numbers:
        assert at_once == stdlib_walk(value, frames.MAX_DEPTH, numbers=False)


def test_an_array_larger_than_a_step_is_looked_at_in_pieces():
    value = [2**63] + [1] * 10_000  # the pieces are looked at last first
    for numbers in (True, False):
        steps = list(frames._walk(value, frames.MAX_DEPTH, 1_000, numbers))
        assert len(steps) >= 9
    assert walked([1] * 10_000, numbers=True)
    assert not walked(value, numbers=True)
    assert walked(value, numbers=False)


@pytest.mark.parametrize(
    "number", ["18446744073709551616", "-9223372036854775809", "1" * 300, "1e19", "-1e19"]
)
def test_an_integer_orjson_reads_as_a_float_is_kept_as_the_standard_library_keeps_it(number):
    frame = frames.decode(f'{{"cmd": 10020, "data": {{"n": {number}}}}}')
    expected = json.loads(number)
    expected = expected if isinstance(expected, float) else number
    assert exact(frame.data["n"]) == exact(expected)
