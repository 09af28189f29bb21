def compute_total(prices, discount=0.0):
    """Sum of prices minus a fractional discount (0.1 = 10% off), rounded to cents."""
    return round(sum(prices) * (1 - discount), 2)


def format_money(amount):
    return f"${amount:,.2f}"
