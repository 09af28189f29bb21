"""`sparkcode bench serve`'s clients against the real server app with a scripted model: each
client kind holds a conversation, and what it sends is what its kind says (the whole history, or
only the new message after a previous_response_id the server resolves)."""

from __future__ import annotations

import pytest

from sparkcode.backends.scripted import ScriptedBackend
from sparkcode.bench import serve_bench
from sparkcode.bench.local_server import serving
from sparkcode.server import create_app


@pytest.mark.parametrize("mode", serve_bench.MODES)
def test_each_client_kind_holds_a_conversation(mode):
    backend = ScriptedBackend([f"reply number {i} " * 5 for i in range(3)])
    with serving(create_app(backend, max_tokens_cap=64)) as port:
        turns = serve_bench._conversation(mode, port, 3, 32)
    assert len(turns) == 3 and all(t.client_ttft_s > 0 and t.wall_s >= t.client_ttft_s for t in turns)
    # the model saw the whole conversation every turn, whoever kept it
    last = " ".join(str(m["content"]) for m in backend.requests[-1].messages)
    assert serve_bench.TURNS[0] in last and "reply number 1" in last and serve_bench.TURNS[2] in last
    sent = [t.sent_bytes for t in turns]
    if mode in ("http-fresh", "http-keepalive", "responses-full"):
        assert sent[0] < sent[1] < sent[2]  # the history grows in every request
    else:
        assert sent[2] < sent[0] + 200  # only the new message (turn 1 may carry the session's setup)
    if mode.startswith("responses-"):
        # the tool list, sent with every request as agent clients do, reached the model
        assert [t["function"]["name"] for t in backend.requests[-1].tools or []] == [t["name"] for t in serve_bench.TOOLS]


def test_unknown_modes_are_refused(capsys):
    import argparse

    p = argparse.ArgumentParser()
    serve_bench.add_arguments(p)
    with pytest.raises(SystemExit, match="unknown --modes telepathy"):
        serve_bench.main(p.parse_args(["--modes", "telepathy", "--out", "-"]))
