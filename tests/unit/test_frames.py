import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.upstream import frames
from feed.upstream.frames import Frame, FrameError, decode


def test_text_frame_decodes_as_the_seed_shows():
    raw = '{"cmd": 10030, "time": 1764843686186, "data": {"event_id": "sr:match:1"}}'
    assert decode(raw) == Frame(10030, 1764843686186, {"event_id": "sr:match:1"})


def test_binary_frame_decodes_header_and_body():
    raw = frames.encode_binary(10030, {"event_id": "sr:match:1"}, 1764843686186)
    assert raw[:12] == (10030).to_bytes(4, "little") + (1764843686186).to_bytes(8, "little")
    assert decode(raw) == Frame(10030, 1764843686186, {"event_id": "sr:match:1"})


def test_text_and_binary_encodings_agree():
    data = {"event_id": "e", "groups": "all"}
    assert decode(frames.encode_text(10030, data, 5)) == decode(
        frames.encode_binary(10030, data, 5)
    )


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "not_an_object"),
        ('{"time": 1}', "bad_cmd"),
        ('{"cmd": "ten"}', "bad_cmd"),
        ('{"cmd": true}', "bad_cmd"),
        (b"\x01\x02\x03", "short_binary"),
        (b"\x1e\x27\x00\x00" + b"\x00" * 8 + b"{broken", "bad_binary_body"),
        (b"\x1e\x27\x00\x00" + b"\x00" * 8 + b"\xff\xfe", "bad_binary_body"),
    ],
)
def test_malformed_frames_raise_with_their_kind(raw, kind):
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.kind == kind


def test_numeric_string_cmd_is_accepted():
    assert decode('{"cmd": "10030", "data": {}}').cmd == 10030


# Hostile frames: nothing but FrameError, and never a number JSON cannot carry -----------------


def text_frame(data_json, cmd="10030", time="1764843686186"):
    return f'{{"cmd": {cmd}, "time": {time}, "data": {data_json}}}'


def strict(value):
    """The value as strict JSON, which browsers' JSON.parse reads: no NaN, no Infinity."""
    return json.dumps(value, allow_nan=False)


def test_json_nested_100000_deep_is_refused_as_too_deep():
    raw = text_frame("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.kind == "too_deep"


def test_binary_body_nested_100000_deep_is_refused_as_too_deep():
    raw = frames.HEADER.pack(10030, 1) + b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.kind == "too_deep"


def test_nesting_up_to_the_limit_decodes_and_one_more_level_is_too_deep():
    depth = frames.MAX_DEPTH - 1  # the envelope is the first level
    assert decode(text_frame("[" * depth + "]" * depth)).cmd == 10030
    with pytest.raises(FrameError) as caught:
        decode(text_frame("[" * (depth + 1) + "]" * (depth + 1)))
    assert caught.value.kind == "too_deep"


@pytest.mark.parametrize("depth", [100, 900, 5_000])
def test_nesting_of_any_depth_past_the_limit_is_too_deep(depth):
    raw = frames.HEADER.pack(10030, 1) + (b"[" * depth + b"]" * depth)
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.kind == "too_deep"


def test_brackets_inside_strings_are_not_nesting():
    name = "[" * 5_000 + '\\"{' * 5_000
    raw = text_frame(json.dumps({"event_id": "sr:match:1", "name": name[:-1] + "x"}))
    assert decode(raw).data["event_id"] == "sr:match:1"


def test_an_unterminated_string_full_of_escaped_quotes_is_bad_json():
    raw = '{"cmd": 10030, "pad": [' + "[]," * 40 + '[]], "data": "' + '\\"' * 200_000
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.kind == "bad_json"


@pytest.mark.parametrize("cmd", ['"' + "1" * 5_000 + '"', "1" * 5_000, '"1e9999"', "4294967296"])
def test_cmd_beyond_any_command_is_a_bad_cmd(cmd):
    with pytest.raises(FrameError) as caught:
        decode(text_frame("{}", cmd=cmd))
    assert caught.value.kind == "bad_cmd"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_kept_as_their_text_and_the_rest_of_the_frame_applies(literal):
    data = f'{{"event_id": "sr:match:1", "product": {literal}, "odds": [{literal}, 2.5]}}'
    frame = decode(text_frame(data))
    assert frame.data == {"event_id": "sr:match:1", "product": literal, "odds": [literal, 2.5]}
    strict(frame.data)


def test_non_finite_numbers_in_a_binary_body_are_kept_as_their_text():
    raw = frames.HEADER.pack(10020, 1) + b'{"odds": NaN, "price": 1e400}'
    assert decode(raw).data == {"odds": "NaN", "price": "1e400"}


def test_integers_outside_64_bits_are_kept_as_their_text():
    digits = "7" * 400
    frame = decode(
        text_frame(f'{{"odds": {digits}, "id": 18, "big": {2**63}, "max": {2**63 - 1}}}')
    )
    assert frame.data == {"odds": digits, "id": 18, "big": str(2**63), "max": 2**63 - 1}


def test_a_frame_over_the_size_limit_is_refused_before_parsing():
    raw = text_frame('{"pad": "%s"}' % ("x" * 1_000))
    assert decode(raw, max_size=2_000).data["pad"] == "x" * 1_000
    with pytest.raises(FrameError) as caught:
        decode(raw, max_size=500)
    assert caught.value.kind == "too_large"
    with pytest.raises(FrameError) as caught:
        decode(frames.encode_binary(10030, {"pad": "x" * 1_000}, 1), max_size=500)
    assert caught.value.kind == "too_large"


@pytest.mark.parametrize(
    ("time", "ms"),
    [
        ('"1764843686186"', 1764843686186),
        ("1764843686186.0", 1764843686186),
        ("1764843686186000", 1764843686186),  # microseconds
        ("1764843686.186", 1764843686186),  # seconds
        ('"soon"', None),
        ("true", None),
        ("null", None),
        ("-5", None),
    ],
)
def test_envelope_time_is_read_as_milliseconds_or_left_out(time, ms):
    frame = decode(text_frame('{"event_id": "sr:match:1"}', time=time))
    assert (frame.cmd, frame.time, frame.data) == (10030, ms, {"event_id": "sr:match:1"})


def test_binary_time_in_microseconds_is_read_as_milliseconds():
    raw = frames.encode_binary(10030, {}, 1764843686186000)
    assert decode(raw).time == 1764843686186


def test_data_double_encoded_as_a_json_string_is_decoded():
    inner = json.dumps({"event_id": "sr:match:1", "groups": "all"})
    frame = decode(json.dumps({"cmd": 10030, "time": 5, "data": inner}))
    assert frame.data == {"event_id": "sr:match:1", "groups": "all"}


def test_data_that_is_plain_text_stays_text():
    assert decode('{"cmd": 100, "data": "ping"}').data == "ping"
    assert decode('{"cmd": 100, "data": "{not json"}').data == "{not json"


def test_double_encoded_data_is_bounded_like_the_frame():
    inner = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(FrameError) as caught:
        decode(json.dumps({"cmd": 10030, "data": inner}))
    assert caught.value.kind == "too_deep"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.integers(min_value=10**18, max_value=10**30)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    cmd=st.integers() | st.text(max_size=12) | st.floats() | st.none(),
    time=json_values,
    data=json_values,
    binary=st.booleans(),
)
def test_any_json_frame_decodes_to_strict_json_or_a_frame_error(cmd, time, data, binary):
    if binary:
        body = json.dumps(data).encode()  # NaN and Infinity appear as bare tokens, as upstream may
        raw = frames.HEADER.pack(abs(cmd) % 2**32 if isinstance(cmd, int) else 1, 1) + body
    else:
        raw = json.dumps({"cmd": cmd, "time": time, "data": data})
    try:
        frame = decode(raw)
    except FrameError:
        return
    strict(frame.data)
    assert frame.time is None or (isinstance(frame.time, int) and frame.time >= 0)
    assert isinstance(frame.cmd, int) and 0 <= frame.cmd < 2**32


@settings(max_examples=400, deadline=None)
@given(raw=st.text(alphabet='{}[]",:\\0123456789.eE-+ tfnaNIy', max_size=200) | st.binary())
def test_any_text_or_bytes_decode_or_raise_a_frame_error(raw):
    try:
        frame = decode(raw)
    except FrameError:
        return
    strict(frame.data)
