import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def run(*args):
    return subprocess.run([sys.executable, str(HERE / "convert.py"), *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("args, out", [(("c2f", "100"), "212.0"), (("f2c", "32"), "0.0"),
                                       (("c2f", "-40"), "-40.0"), (("f2c", "98.6"), "37.0")])
def test_conversions(args, out):
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == out


@pytest.mark.parametrize("args", [("c2f", "abc"), ("k2c", "5"), ()])
def test_bad_input_exits_2(args):
    r = run(*args)
    assert r.returncode == 2
    assert r.stderr.strip()
