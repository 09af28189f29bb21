"""Named profiles: which model, which speculative-decoding mode, which prompt style, and where
the model runs (the embedded engine, or any OpenAI-compatible server).

Built in:

- ``standard``: Qwen2.5-Coder-1.5B, no speculative decoding, the conventional "explain, then
  act" prompt — how a coding assistant is usually set up (our engine's prefix cache is always
  on, so it is on here too);
- ``spark``: the same model with adaptive speculative decoding and the terse prompt;
- ``spark-mini``: Qwen2.5-Coder-0.5B, speculative decoding and the terse prompt.

More come from, in order (each one overriding the keys it sets on a profile of the same name):

1. ``$XDG_CONFIG_HOME/sparkcode/config.toml`` (default ``~/.config/sparkcode/config.toml``);
2. ``./.sparkcode/config.toml`` in the working folder;
3. environment variables ``SPARKCODE_PROFILE_<NAME>_<KEY>`` with KEY one of MODEL, API_BASE,
   API_KEY_ENV, SPECULATE, STYLE, DESCRIPTION (NAME upper-cased, ``-`` written as ``_``).

A config file holds ``[profiles.NAME]`` tables with the keys of `Profile`::

    [profiles.cerebras]
    model = "qwen-3-coder-480b"
    api_base = "https://api.example.com/v1"
    api_key_env = "EXAMPLE_API_KEY"   # the variable holding the key, never the key itself
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import SparkcodeError

SPECULATE_MODES = ("off", "ngram", "draft", "auto")
STYLES = ("terse", "standard")
ENV_PREFIX = "SPARKCODE_PROFILE_"
_KEYS = ("model", "speculate", "style", "api_base", "api_key_env", "description")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProfileError(SparkcodeError):
    """A profile is unknown, or a config file / variable defining one is malformed."""


@dataclass(frozen=True)
class Profile:
    name: str
    model: str
    speculate: str = "auto"
    style: str = "terse"
    api_base: str | None = None  # set: the model runs on this OpenAI-compatible server
    api_key_env: str | None = None  # the environment variable holding that server's API key
    description: str = ""
    source: str = field(default="built-in", compare=False)  # where it was (last) defined

    @property
    def is_remote(self) -> bool:
        return self.api_base is not None

    def to_dict(self) -> dict:
        return asdict(self)


BUILTIN: dict[str, Profile] = {p.name: p for p in (
    Profile("standard", "qwen2.5-coder-1.5b", speculate="off", style="standard",
            description="the usual setup: 1.5B model, plain decoding, an explain-then-act prompt"),
    Profile("spark", "qwen2.5-coder-1.5b", speculate="auto", style="terse",
            description="1.5B model with adaptive speculative decoding and the terse prompt"),
    Profile("spark-mini", "qwen2.5-coder-0.5b", speculate="auto", style="terse",
            description="0.5B model with adaptive speculative decoding and the terse prompt"),
)}


def config_paths(cwd: Path | str | None = None) -> list[Path]:
    """The config files read, lowest precedence first (whether or not they exist)."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    user_dir = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"  # XDG: relative is invalid
    return [user_dir / "sparkcode" / "config.toml", Path(cwd or ".").resolve() / ".sparkcode" / "config.toml"]


def load_profiles(cwd: Path | str | None = None, environ: dict[str, str] | None = None) -> dict[str, Profile]:
    """Built-in profiles, then the user's and the project's config files, then the environment."""
    profiles = dict(BUILTIN)
    for path in config_paths(cwd):
        if path.is_file():
            for name, values in _read_config(path).items():
                _merge(profiles, name, values, str(path))
    for name, values in _from_env(os.environ if environ is None else environ, profiles).items():
        _merge(profiles, name, values, "environment")
    return profiles


def get_profile(name: str, profiles: dict[str, Profile] | None = None, cwd: Path | str | None = None) -> Profile:
    profiles = load_profiles(cwd) if profiles is None else profiles
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}; known: {', '.join(profiles)}. Define more in "
                           f"{config_paths(cwd)[0]} or .sparkcode/config.toml under [profiles.NAME].")
    return profiles[name]


def backend_for(profile: Profile, threads: int | None = None, n_ctx: int = 8192, show_progress: bool = True):
    """A fresh backend for the profile: the embedded engine, or an `OpenAIBackend` for a remote one.

    The caller owns it and should `close_backend` it when done (a local one holds the model's memory).
    """
    if profile.is_remote:
        from .backends.openai_http import OpenAIBackend

        key = None
        if profile.api_key_env:
            key = os.environ.get(profile.api_key_env)
            if not key:
                raise ProfileError(f"profile {profile.name!r} reads its API key from ${profile.api_key_env}, "
                                   "which is not set")
        return OpenAIBackend(profile.api_base, profile.model, api_key=key)
    from .backends.local import LocalBackend

    return LocalBackend.load(profile.model, n_ctx=n_ctx, threads=threads, show_progress=show_progress)


def close_backend(backend) -> None:
    """Release what a backend from `backend_for` holds (the engine's model and KV cache, or the HTTP client)."""
    target = getattr(backend, "engine", backend)
    close = getattr(target, "close", None)
    if callable(close):
        close()


# ---- parsing ---------------------------------------------------------------------------------

def _read_config(path: Path) -> dict[str, dict]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path} is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"cannot read {path}: {e}") from None
    table = data.get("profiles", {})
    if not isinstance(table, dict):
        raise ProfileError(f"{path}: `profiles` must be a table of [profiles.NAME] sections")
    out = {}
    for name, values in table.items():
        where = f"{path}: [profiles.{name}]"
        if not isinstance(values, dict):
            raise ProfileError(f"{where} must be a table (a [profiles.{name}] section)")
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            hint = (" (keep keys out of config files: put the key in an environment variable and name that "
                    "variable in api_key_env)") if "api_key" in unknown else ""
            raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}{hint}")
        for k, v in values.items():
            if not isinstance(v, str):
                raise ProfileError(f"{where}: {k} must be a string, got {type(v).__name__}")
        out[name] = values
    return out


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_").replace(".", "_")


def _from_env(environ: dict[str, str], known: dict[str, Profile]) -> dict[str, dict]:
    by_env_name = {_env_name(n): n for n in known}
    suffixes = sorted(_KEYS, key=len, reverse=True)  # API_KEY_ENV before anything shorter it ends with
    out: dict[str, dict] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):]
        for key in suffixes:
            tail = "_" + key.upper()
            if rest.endswith(tail) and len(rest) > len(tail):
                env_name = rest[: -len(tail)]
                name = by_env_name.get(env_name.upper(), env_name.lower().replace("_", "-"))
                out.setdefault(name, {})[key] = environ[var]
                break
        else:
            raise ProfileError(f"${var}: expected {ENV_PREFIX}<NAME>_<KEY> with KEY one of "
                               f"{', '.join(k.upper() for k in _KEYS)}")
    return out


def _merge(profiles: dict[str, Profile], name: str, values: dict, source: str) -> None:
    where = f"profile {name!r} ({source})"
    if not _NAME.match(name):
        raise ProfileError(f"{where}: a profile name is letters, digits, '.', '_' and '-'")
    values = {k: (v.strip() or None) if k in ("api_base", "api_key_env") else v.strip() for k, v in values.items()}
    base = profiles.get(name)
    if base is None:
        if not values.get("model"):
            raise ProfileError(f"{where}: a new profile needs a model (a registry name, a .gguf path, "
                               "or the remote server's model id with api_base)")
        profile = Profile(name=name, **values, source=source)
    else:
        profile = replace(base, **values, source=source)
    _validate(profile, where)
    profiles[name] = profile


def _validate(p: Profile, where: str) -> None:
    if not p.model:
        raise ProfileError(f"{where}: model is empty")
    if p.speculate not in SPECULATE_MODES:
        raise ProfileError(f"{where}: speculate must be one of {', '.join(SPECULATE_MODES)}, got {p.speculate!r}")
    if p.style not in STYLES:
        raise ProfileError(f"{where}: style must be one of {', '.join(STYLES)}, got {p.style!r}")
    if p.api_base is not None and not p.api_base.startswith(("http://", "https://")):
        raise ProfileError(f"{where}: api_base must be an http(s) URL, got {p.api_base!r}")
    if p.api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p.api_key_env):
        raise ProfileError(f"{where}: api_key_env names an environment variable (e.g. OPENAI_API_KEY), "
                           f"got {p.api_key_env!r}")

