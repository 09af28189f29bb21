def parse_price(text):
    """'$1,212.50' -> 1212.5"""
    return float(text.strip().replace("$", "").replace(",", ""))


def total(prices):
    """Sum of a list of price strings."""
    return sum(parse_price(p) for p in prices)
