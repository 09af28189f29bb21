"""`sparkcode bench candidates` on the real 0.5B: one row per k, figures that add up, the section
and its chart written where asked."""

from __future__ import annotations

import argparse

import pytest

from sparkcode.bench import candidates_bench

pytestmark = pytest.mark.model


def test_the_bench_writes_a_row_per_k_with_its_command_and_chart(qwen05_path, tmp_path):
    out = tmp_path / "BENCH.md"
    args = argparse.Namespace(model="qwen2.5-coder-0.5b", max_k=2, tokens=8, runs=1, threads=None, out=str(out))
    assert candidates_bench.main(args) == 0
    text = out.read_text()
    assert "## Candidates: k first attempts decoded together vs one after another" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2
    k2 = [c.strip() for c in rows[1].strip("|").split("|")]
    assert int(k2[1]) == 16  # two replies of 8 tokens (the snake prompt never ends in 8)
    assert list(tmp_path.glob("bench-candidates-*.png"))
