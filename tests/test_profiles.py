"""Profiles: built-ins, config-file and environment precedence, validation errors, prompt styles,
and the backend each profile builds (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkcode import profiles as P
from sparkcode.agent import prompts
from sparkcode.agent.loop import Agent, AgentConfig
from sparkcode.agent.workspace import Workspace
from sparkcode.backends.openai_http import OpenAIBackend
from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.errors import SparkcodeError


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    """An isolated user config folder (XDG_CONFIG_HOME) and project folder; no profile variables."""
    xdg, project = tmp_path / "xdg", tmp_path / "project"
    (xdg / "sparkcode").mkdir(parents=True)
    (project / ".sparkcode").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    for var in list(__import__("os").environ):
        if var.startswith(P.ENV_PREFIX):
            monkeypatch.delenv(var)
    return xdg / "sparkcode" / "config.toml", project / ".sparkcode" / "config.toml", project


def test_builtin_profiles():
    b = P.BUILTIN
    assert list(b) == ["standard", "spark", "spark-mini"]
    assert (b["standard"].model, b["standard"].speculate, b["standard"].style) == ("qwen2.5-coder-1.5b", "off", "standard")
    assert (b["spark"].model, b["spark"].speculate, b["spark"].style) == ("qwen2.5-coder-1.5b", "auto", "terse")
    assert (b["spark-mini"].model, b["spark-mini"].speculate, b["spark-mini"].style) == ("qwen2.5-coder-0.5b", "auto",
                                                                                          "terse")
    assert not any(p.is_remote for p in b.values())


def test_no_config_gives_the_builtins(dirs):
    _, _, project = dirs
    assert P.load_profiles(project, environ={}) == P.BUILTIN


def test_user_config_adds_a_remote_profile(dirs):
    user, _, project = dirs
    user.write_text('[profiles.cloud]\nmodel = "qwen-coder-32b"\napi_base = "https://llm.example.test/v1"\n'
                    'api_key_env = "CLOUD_KEY"\ndescription = "big model"\n')
    got = P.load_profiles(project, environ={})
    cloud = got["cloud"]
    assert cloud.is_remote and cloud.model == "qwen-coder-32b" and cloud.api_base == "https://llm.example.test/v1"
    assert cloud.api_key_env == "CLOUD_KEY" and cloud.speculate == "auto" and cloud.style == "terse"
    assert cloud.source == str(user)
    assert list(got)[:3] == ["standard", "spark", "spark-mini"]


def test_home_config_is_used_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".config" / "sparkcode").mkdir(parents=True)
    (tmp_path / ".config" / "sparkcode" / "config.toml").write_text('[profiles.mine]\nmodel = "smollm2-135m"\n')
    assert P.load_profiles(tmp_path / "elsewhere", environ={})["mine"].model == "smollm2-135m"


def test_project_config_overrides_user_config_key_by_key(dirs):
    user, project_cfg, project = dirs
    user.write_text('[profiles.spark]\nmodel = "from-user"\nstyle = "standard"\n'
                    '[profiles.extra]\nmodel = "user-extra"\nspeculate = "ngram"\n')
    project_cfg.write_text('[profiles.spark]\nmodel = "from-project"\n[profiles.extra]\nspeculate = "draft"\n')
    got = P.load_profiles(project, environ={})
    assert got["spark"].model == "from-project"
    assert got["spark"].style == "standard"  # set by the user file, not overridden by the project
    assert got["spark"].speculate == "auto"  # untouched built-in value
    assert got["extra"].model == "user-extra" and got["extra"].speculate == "draft"
    assert got["extra"].source == str(project_cfg)


def test_environment_overrides_the_files(dirs):
    _, project_cfg, project = dirs
    project_cfg.write_text('[profiles.spark-mini]\nmodel = "from-project"\nstyle = "standard"\n')
    env = {"SPARKCODE_PROFILE_SPARK_MINI_MODEL": "smollm2-135m",
           "SPARKCODE_PROFILE_SPARK_MINI_SPECULATE": "off"}
    mini = P.load_profiles(project, environ=env)["spark-mini"]
    assert (mini.model, mini.speculate, mini.style, mini.source) == ("smollm2-135m", "off", "standard", "environment")


def test_environment_defines_a_new_remote_profile(dirs):
    _, _, project = dirs
    env = {"SPARKCODE_PROFILE_LAB_BOX_MODEL": "qwen2.5-coder-7b",
           "SPARKCODE_PROFILE_LAB_BOX_API_BASE": "http://127.0.0.1:9/v1",
           "SPARKCODE_PROFILE_LAB_BOX_API_KEY_ENV": "LAB_KEY",
           "SPARKCODE_PROFILE_LAB_BOX_STYLE": "standard",
           "UNRELATED": "x"}
    lab = P.load_profiles(project, environ=env)["lab-box"]
    assert lab.model == "qwen2.5-coder-7b" and lab.api_base == "http://127.0.0.1:9/v1"
    assert lab.api_key_env == "LAB_KEY" and lab.style == "standard"


def test_load_profiles_reads_the_process_environment(dirs, monkeypatch):
    _, _, project = dirs
    monkeypatch.setenv("SPARKCODE_PROFILE_SPARK_STYLE", "standard")
    assert P.load_profiles(project)["spark"].style == "standard"


def test_bad_toml_is_a_clear_error(dirs):
    _, project_cfg, project = dirs
    project_cfg.write_text("[profiles.broken\nmodel = 'x'\n")
    with pytest.raises(SparkcodeError) as e:
        P.load_profiles(project, environ={})
    assert str(project_cfg) in str(e.value) and "not valid TOML" in str(e.value)


@pytest.mark.parametrize("body, words", [
    ('[profiles.x]\nmodel = "m"\ntemperature = "0.2"\n', ["unknown key", "temperature", "allowed"]),
    ('[profiles.x]\nmodel = "m"\napi_key = "sk-123"\n', ["unknown key", "api_key_env"]),
    ('[profiles.x]\nmodel = "m"\nspeculate = "turbo"\n', ["speculate must be one of", "turbo"]),
    ('[profiles.x]\nmodel = "m"\nstyle = "chatty"\n', ["style must be one of", "chatty"]),
    ('[profiles.x]\nmodel = "m"\napi_base = "localhost:8000"\n', ["api_base must be an http(s) URL"]),
    ('[profiles.x]\nspeculate = "off"\n', ["needs a model"]),
    ('[profiles.x]\nmodel = 3\n', ["model must be a string"]),
    ('profiles = "nope"\n', ["must be a table"]),
    ('[profiles."bad name!"]\nmodel = "m"\n', ["profile name"]),
])
def test_invalid_profiles_are_refused_with_the_reason(dirs, body, words):
    _, project_cfg, project = dirs
    project_cfg.write_text(body)
    with pytest.raises(P.ProfileError) as e:
        P.load_profiles(project, environ={})
    for w in words:
        assert w in str(e.value)


def test_malformed_environment_variable_is_refused(dirs):
    _, _, project = dirs
    with pytest.raises(P.ProfileError, match="SPARKCODE_PROFILE_SPARK_MODLE"):
        P.load_profiles(project, environ={"SPARKCODE_PROFILE_SPARK_MODLE": "x"})
    with pytest.raises(P.ProfileError, match="speculate"):
        P.load_profiles(project, environ={"SPARKCODE_PROFILE_SPARK_SPECULATE": "fast"})


def test_unknown_profile_lists_the_known_ones(dirs):
    user, _, project = dirs
    user.write_text('[profiles.cloud]\nmodel = "m"\napi_base = "https://x.test/v1"\n')
    with pytest.raises(SparkcodeError) as e:
        P.get_profile("sparky", cwd=project)
    msg = str(e.value)
    assert "sparky" in msg and all(n in msg for n in ("standard", "spark", "spark-mini", "cloud"))
    assert P.get_profile("cloud", cwd=project).model == "m"


def test_backend_for_a_remote_profile(monkeypatch):
    prof = P.Profile("cloud", "coder-32b", api_base="http://127.0.0.1:9/v1", api_key_env="CLOUD_KEY")
    monkeypatch.delenv("CLOUD_KEY", raising=False)
    with pytest.raises(P.ProfileError, match=r"\$CLOUD_KEY"):
        P.backend_for(prof)
    monkeypatch.setenv("CLOUD_KEY", "sekrit")
    backend = P.backend_for(prof)
    try:
        assert isinstance(backend, OpenAIBackend)
        assert backend.name == "coder-32b" and backend.api_base == "http://127.0.0.1:9/v1"
        assert backend.client.headers["authorization"] == "Bearer sekrit"
    finally:
        P.close_backend(backend)
    assert backend.client.is_closed


def test_backend_for_a_local_profile_loads_its_model(monkeypatch):
    from sparkcode.backends import local

    calls = []
    monkeypatch.setattr(local.LocalBackend, "load", classmethod(lambda cls, model, **kw: calls.append((model, kw))))
    P.backend_for(P.BUILTIN["spark-mini"], threads=2)
    assert calls == [("qwen2.5-coder-0.5b", {"n_ctx": 8192, "threads": 2, "show_progress": True})]


# -- prompt styles -----------------------------------------------------------------------------

def test_system_prompt_styles():
    assert prompts.system_prompt("terse") == prompts.SYSTEM
    assert prompts.system_prompt() == prompts.SYSTEM
    standard = prompts.system_prompt("standard")
    assert standard != prompts.SYSTEM
    for needle in ("FILE: <path>", "<<<<<<< SEARCH", '"name": "run"', '"name": "finish"', "ONE self-contained HTML"):
        assert needle in standard and needle in prompts.SYSTEM
    assert "no chatter" in prompts.SYSTEM and "act directly" in prompts.SYSTEM
    assert "no chatter" not in standard and "act directly" not in standard
    assert "explain" in standard
    with pytest.raises(SparkcodeError, match="terse, standard"):
        prompts.system_prompt("loud")


@pytest.mark.parametrize("style", ["terse", "standard"])
def test_agent_uses_the_configured_style_and_still_acts(tmp_path, style):
    reply = "I will write the file now.\n\nFILE: hi.py\n```python\nprint('hi')\n```\nThis prints hi."
    tests = ("```python\nimport subprocess, sys\n\n\ndef test_prints_hi():\n    r = subprocess.run([sys.executable, "
             "'hi.py'], capture_output=True, text=True)\n    assert r.stdout == 'hi\\n'\n```")
    backend = ScriptedBackend([reply, tests])  # the coding turn, then the acceptance-test writer
    (tmp_path / "ws").mkdir()
    out = Agent(backend, Workspace(tmp_path / "ws"), AgentConfig(style=style)).run("write hi.py")
    assert out.status == "done" and (tmp_path / "ws" / "hi.py").exists()
    assert backend.requests[0].messages[0]["content"] == prompts.system_prompt(style)


def test_agent_config_defaults_to_terse():
    assert AgentConfig().style == "terse"
    assert Path(P.config_paths("/some/where")[1]) == Path("/some/where/.sparkcode/config.toml")
