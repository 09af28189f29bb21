import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
DATA = "region,product,amount\nnorth,widget,10.50\nsouth,widget,4.25\nnorth,gadget,7.00\n"


def run(tmp_path, *args):
    (tmp_path / "sales.csv").write_text(DATA)
    return subprocess.run([sys.executable, str(HERE / "csvsum.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)


def test_sum_of_a_column(tmp_path):
    r = run(tmp_path, "sales.csv", "amount")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "21.75"


def test_where(tmp_path):
    r = run(tmp_path, "sales.csv", "amount", "--where", "region=north")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "17.50"


def test_missing_file_exits_1(tmp_path):
    r = run(tmp_path, "nope.csv", "amount")
    assert r.returncode == 1
    assert r.stderr.strip()


def test_unknown_column_exits_2(tmp_path):
    assert run(tmp_path, "sales.csv", "price").returncode == 2
    assert run(tmp_path, "sales.csv", "amount", "--where", "city=north").returncode == 2
