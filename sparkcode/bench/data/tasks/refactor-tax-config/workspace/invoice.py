TAX_RATE = 0.2


def invoice_total(lines):
    """lines: [(description, quantity, unit price)] -> total with tax, rounded to cents."""
    net = sum(qty * price for _, qty, price in lines)
    return round(net * (1 + TAX_RATE), 2)
