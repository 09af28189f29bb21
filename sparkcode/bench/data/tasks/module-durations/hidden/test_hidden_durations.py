import pytest

from durations import format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [("1h30m", 5400), ("45s", 45), ("2h", 7200), ("1h2m3s", 3723),
                                           ("90m", 5400)])
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1x", "30m1h", "h"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("seconds, text", [(5400, "1h30m"), (45, "45s"), (3723, "1h2m3s"), (0, "0s")])
def test_format(seconds, text):
    assert format_duration(seconds) == text


def test_roundtrip():
    for n in (1, 59, 60, 61, 3599, 3600, 3661, 86399):
        assert parse_duration(format_duration(n)) == n
