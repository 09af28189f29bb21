import re
from itertools import groupby

_RUN = re.compile(r"(\d+)(\D)")


def encode(text):
    """'aaab' -> '3a1b'."""
    return "".join(f"{len(list(group))}{ch}" for ch, group in groupby(text))


def decode(text):
    """'3a1b' -> 'aaab'."""
    if not re.fullmatch(r"(?:\d+\D)*", text):
        raise ValueError(f"malformed run-length text: {text!r}")
    return "".join(ch * int(n) for n, ch in _RUN.findall(text))
