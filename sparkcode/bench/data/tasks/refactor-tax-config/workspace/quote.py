TAX_RATE = 0.2


def quote(price, quantity=1):
    """The price quoted to a customer, tax included, rounded to cents."""
    return round(price * quantity * (1 + TAX_RATE), 2)
