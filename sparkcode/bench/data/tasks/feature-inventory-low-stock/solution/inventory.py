class Inventory:
    def __init__(self):
        self.stock = {}

    def add(self, name, qty=1):
        self.stock[name] = self.stock.get(name, 0) + qty

    def remove(self, name, qty=1):
        have = self.stock.get(name, 0)
        if qty > have:
            raise ValueError(f"only {have} {name} in stock")
        self.stock[name] = have - qty

    def quantity(self, name):
        return self.stock.get(name, 0)

    def low_stock(self, threshold=5):
        return sorted(name for name, qty in self.stock.items() if qty < threshold)
