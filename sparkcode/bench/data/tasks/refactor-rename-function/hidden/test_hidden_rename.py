from pathlib import Path

import cart
import report
import utils

HERE = Path(__file__).parent


def test_new_name_works():
    assert utils.compute_total([1.0, 2.5]) == 3.5
    assert utils.compute_total([10.0, 10.0], 0.1) == 18.0


def test_old_name_is_gone():
    assert not hasattr(utils, "calc_total")
    sources = [p for p in HERE.glob("*.py") if not p.name.startswith("test_")]
    assert sources and not [p.name for p in sources if "calc_total" in p.read_text()]


def test_cart_still_works():
    c = cart.Cart()
    c.add(1200.0)
    c.add(0.5)
    assert c.total() == 1200.5
    assert c.summary() == "2 items, $1,200.50"


def test_report_still_works():
    assert report.daily_report({"b": [2.0], "a": [1.0, 1.5]}) == ["a: $2.50", "b: $2.00", "total: $4.50"]
