import pytest

from inventory import Inventory


def stocked():
    inv = Inventory()
    inv.add("apples", 10)
    inv.add("pears", 2)
    inv.add("kiwis", 4)
    inv.add("figs", 5)
    return inv


def test_low_stock_default_threshold_sorted():
    assert stocked().low_stock() == ["kiwis", "pears"]


def test_low_stock_custom_threshold():
    assert stocked().low_stock(3) == ["pears"]


def test_sold_out_items_are_low_stock():
    inv = stocked()
    inv.remove("apples", 10)
    assert inv.low_stock() == ["apples", "kiwis", "pears"]


def test_empty_inventory():
    assert Inventory().low_stock() == []


def test_existing_methods_still_work():
    inv = stocked()
    inv.remove("pears")
    assert inv.quantity("pears") == 1
    with pytest.raises(ValueError):
        inv.remove("pears", 5)
