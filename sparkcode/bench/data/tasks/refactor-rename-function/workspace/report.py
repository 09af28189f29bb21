import utils


def daily_report(orders):
    """orders: {order id: [prices]} -> the report's lines."""
    lines = []
    for order_id, prices in sorted(orders.items()):
        lines.append(f"{order_id}: {utils.format_money(utils.calc_total(prices))}")
    grand = utils.calc_total([utils.calc_total(p) for p in orders.values()])
    lines.append(f"total: {utils.format_money(grand)}")
    return lines
