def parse_price(text):
    """'$12.50' -> 12.5"""
    return float(text.replace("$", ""))


def total(prices):
    """Sum of a list of price strings."""
    return sum(parse_price(p) for p in prices)
