"""The `sparkcode` command as a user runs it: exit codes, messages, --json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


def run(*args, env=None, timeout=300):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "sparkcode.cli", *args], capture_output=True, text=True, env=e,
                          timeout=timeout)


def test_help_documents_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("ask", "models", "bench"):
        assert cmd in r.stdout
    r = run("ask", "--help")
    for flag in ("--model", "--max-tokens", "--temperature", "--seed", "--system", "--json", "--speculate"):
        assert flag in r.stdout


@pytest.mark.parametrize("args,msg", [
    (("ask", "hi", "--max-tokens", "zero"), "expected a whole number"),
    (("ask", "hi", "--max-tokens", "0"), "must be >= 1"),
    (("ask", "hi", "--temperature", "-1"), "must be >= 0"),
    (("ask", "hi", "--speculate", "fast"), "invalid choice"),
    (("ask",), "required: prompt"),
    (("frobnicate",), "invalid choice"),
])
def test_bad_flags_fail_with_a_message(args, msg):
    r = run(*args)
    assert r.returncode == 2
    assert msg in r.stderr


def test_missing_and_non_gguf_model_files(tmp_path):
    r = run("ask", "hi", "--model", str(tmp_path / "nope.gguf"))
    assert r.returncode == 2 and "Model file not found" in r.stderr and "Traceback" not in r.stderr
    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    r = run("ask", "hi", "--model", str(junk))
    assert r.returncode == 2 and "not a GGUF model file" in r.stderr


@pytest.mark.model
def test_tampered_embedded_model_is_refused(tmp_path, smol_path):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    dest = home / "models" / smol_path.name
    shutil.copyfile(smol_path, dest)
    with open(dest, "r+b") as f:
        f.seek(5_000_000)
        b = f.read(1)
        f.seek(5_000_000)
        f.write(bytes([b[0] ^ 0x55]))
    r = run("ask", "hi", "--model", "smollm2-135m", env={"SPARKCODE_HOME": str(home)})
    assert r.returncode == 2
    assert "Refusing" in r.stderr and "sha256" in r.stderr
    assert not dest.exists()


@pytest.mark.model
def test_ask_streams_text_and_json_stats(smol_path):
    r = run("ask", "Say hi.", "--model", "smollm2-135m", "--max-tokens", "12", "--json", "--speculate", "off")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    for key in ("prompt_tokens", "cached_tokens", "prefill_s", "ttft_s", "decode_tokens", "decode_tps", "wall_s", "text",
                "drafted", "accepted", "acceptance", "mean_accepted_len"):
        assert key in data
    assert data["decode_tokens"] <= 12
    assert data["text"] and data["text"] in r.stdout


@pytest.mark.model
def test_models_lists_status():
    r = run("models")
    assert r.returncode == 0
    assert "qwen2.5-coder-1.5b" in r.stdout and "smollm2-135m" in r.stdout
