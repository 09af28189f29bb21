"""A mutable default argument that the function keeps or changes gets a fresh object per call (defaults.py)."""

from __future__ import annotations

import subprocess
import sys

from sparkcode.agent.defaults import own_copies_of_mutable_defaults
from sparkcode.agent.workspace import Workspace

CART = '''from typing import List


class Cart:
    def __init__(self, items: List[str] = [], tags={}, *, log=list()):
        """A cart."""
        self.items = items
        tags["n"] = 1
        log.append("made")

    def add(self, item: str):
        self.items.append(item)


def total(prices=[]):
    return sum(prices)  # only read: harmless, left alone


def grow(xs=[], *, seen=set()):
    xs += [1]
    return xs, seen
'''

PROBE = '''from cart import Cart, grow
a, b = Cart(), Cart()
a.add("apple")
assert b.items == [] and a.items == ["apple"], (a.items, b.items)
c = Cart(["pear"])
c.add("fig")
assert c.items == ["pear", "fig"]
assert grow()[0] == [1] and grow()[0] == [1]
print("ok")
'''


def test_a_kept_or_changed_mutable_default_becomes_a_new_object_per_call(tmp_path):
    (tmp_path / "cart.py").write_text(CART)
    (tmp_path / "probe.py").write_text(PROBE)
    before = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, capture_output=True, text=True)
    assert before.returncode != 0  # the carts share their items
    notes = own_copies_of_mutable_defaults(Workspace(tmp_path), ["cart.py"])
    assert len(notes) == 1 and "Cart.__init__" not in notes[0] and "__init__(items=[])" in notes[0]
    text = (tmp_path / "cart.py").read_text()
    assert "items: List[str] = None, tags=None, *, log=None):" in text
    assert '        """A cart."""\n        if items is None:\n            items = []\n' in text
    assert "        if log is None:\n            log = list()\n" in text
    assert "def total(prices=[]):" in text  # read only
    assert "def grow(xs=None, *, seen=set()):" in text  # `seen` is never kept or changed
    after = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, capture_output=True, text=True)
    assert after.returncode == 0 and after.stdout.strip() == "ok", after.stderr
    assert own_copies_of_mutable_defaults(Workspace(tmp_path), ["cart.py"]) == []  # nothing left to fix


def test_code_without_a_shared_default_is_left_as_written(tmp_path):
    src = "def f(xs=None, n=3, s='a'):\n    xs = xs or []\n    xs.append(n)\n    return xs\n\n\ndef g(d={}): return d\n"
    (tmp_path / "m.py").write_text(src)
    assert own_copies_of_mutable_defaults(Workspace(tmp_path), ["m.py"]) == []
    assert (tmp_path / "m.py").read_text() == src
