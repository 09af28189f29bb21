import pytest

from roman import from_roman, to_roman


@pytest.mark.parametrize("n, s", [(4, "IV"), (9, "IX"), (40, "XL"), (1994, "MCMXCIV"), (3999, "MMMCMXCIX"),
                                  (1, "I")])
def test_known_values(n, s):
    assert to_roman(n) == s
    assert from_roman(s) == n


@pytest.mark.parametrize("n", [0, 4000, -1])
def test_to_roman_out_of_range(n):
    with pytest.raises(ValueError):
        to_roman(n)


@pytest.mark.parametrize("s", ["", "ABC", "IIII"])
def test_from_roman_rejects(s):
    with pytest.raises(ValueError):
        from_roman(s)


def test_roundtrip_everything():
    assert all(from_roman(to_roman(n)) == n for n in range(1, 4000))
