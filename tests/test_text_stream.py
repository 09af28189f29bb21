"""UTF-8 and stop-string handling of the token -> text stream (no model needed)."""

from sparkcode.engine.text import TextStream


def feed(chunks, stop=None):
    ts = TextStream(stop)
    out = [ts.push(c) for c in chunks]
    out.append(ts.finish())
    return out, ts


def test_multibyte_characters_split_across_tokens_are_never_emitted_half():
    data = "héllo 🎉 中文".encode()
    chunks = [data[i : i + 1] for i in range(len(data))]  # worst case: one byte per token
    out, ts = feed(chunks)
    assert "".join(out) == "héllo 🎉 中文"
    assert all("\ufffd" not in o for o in out)
    assert ts.text == "héllo 🎉 中文"


def test_stop_string_spanning_tokens_is_cut_and_not_emitted():
    out, ts = feed([b"abc", b" ST", b"OP", b" after"], stop=["STOP"])
    assert "".join(out) == "abc "
    assert ts.stopped


def test_partial_stop_prefix_is_released_when_it_turns_out_not_to_stop():
    ts = TextStream(["</end>"])
    assert ts.push(b"x </e") == "x "
    assert ts.push(b"nd") == ""
    assert ts.push(b"ing") == "</ending"
    assert not ts.stopped


def test_truncated_utf8_at_the_end_becomes_a_replacement_char():
    out, _ = feed(["🎉".encode()[:2]])
    assert "".join(out) == "\ufffd"
