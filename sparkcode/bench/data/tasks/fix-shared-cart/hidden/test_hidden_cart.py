from cart import Cart


def test_carts_do_not_share_items():
    a = Cart()
    b = Cart()
    a.add("apple")
    assert a.items == ["apple"]
    assert b.items == []


def test_a_new_cart_after_others_is_empty():
    Cart().add("x")
    Cart().add("y")
    c = Cart()
    assert c.count() == 0


def test_initial_items():
    c = Cart(["pear"])
    c.add("fig")
    assert c.items == ["pear", "fig"]
    assert c.count() == 2
