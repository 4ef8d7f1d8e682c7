import pytest

from feed import frames
from feed.frames import Frame, FrameError, decode


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
        ('{"cmd": 10030, "time": "soon"}', "bad_time"),
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
