_VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
           (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    if not isinstance(n, int) or not 1 <= n <= 3999:
        raise ValueError(f"out of range: {n!r}")
    out = []
    for value, numeral in _VALUES:
        count, n = divmod(n, value)
        out.append(numeral * count)
    return "".join(out)


def from_roman(s):
    total, i = 0, 0
    for value, numeral in _VALUES:
        while s.startswith(numeral, i):
            total += value
            i += len(numeral)
    if not s or i != len(s) or not 1 <= total <= 3999 or to_roman(total) != s:
        raise ValueError(f"not a Roman numeral: {s!r}")
    return total
