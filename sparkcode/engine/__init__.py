"""Inference engine on llama.cpp: prefix-cached, streaming, measured, optionally speculative."""

from .sampling import SamplingParams
from .stats import Done, Stats, TextDelta

__all__ = ["Engine", "SamplingParams", "Stats", "TextDelta", "Done"]


def __getattr__(name):  # lazy: importing llama_cpp costs ~0.3 s; `sparkcode --help` needs none of it
    if name == "Engine":
        from .core import Engine

        return Engine
    raise AttributeError(name)
