import pytest

from prices import parse_price, total


def test_thousands_separator():
    assert parse_price("$1,234.50") == 1234.5


def test_surrounding_spaces():
    assert parse_price(" $7.25 ") == 7.25


def test_plain_numbers_still_work():
    assert parse_price("12") == 12.0
    assert total(["$1,000", "$0.50"]) == 1000.5


@pytest.mark.parametrize("bad", ["abc", ""])
def test_not_a_price(bad):
    with pytest.raises(ValueError):
        parse_price(bad)
