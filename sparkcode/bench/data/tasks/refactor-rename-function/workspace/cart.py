from utils import calc_total, format_money


class Cart:
    def __init__(self):
        self.prices = []

    def add(self, price):
        self.prices.append(price)

    def total(self, discount=0.0):
        return calc_total(self.prices, discount)

    def summary(self):
        return f"{len(self.prices)} items, {format_money(self.total())}"
