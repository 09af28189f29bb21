import pytest

from rle import decode, encode


def test_encode_example():
    assert encode("aaabccdddd") == "3a1b2c4d"


def test_long_runs_and_empty():
    assert encode("a" * 12) == "12a"
    assert encode("") == ""
    assert decode("12a") == "a" * 12


@pytest.mark.parametrize("s", ["aaabccdddd", "hello  world", "z" * 25 + "!", "ab\nba", "", "x"])
def test_roundtrip(s):
    assert decode(encode(s)) == s


@pytest.mark.parametrize("bad", ["3", "a3"])
def test_malformed(bad):
    with pytest.raises(ValueError):
        decode(bad)
