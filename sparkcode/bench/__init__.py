"""Benchmarks anyone can rerun: each writes a dated section (command, model, threads, machine,
medians of several runs, side-by-side ratios) and a PNG chart into docs/BENCHMARKS.md."""
