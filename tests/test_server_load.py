"""The server under concurrent load: FIFO one-at-a-time generation, and with `parallel` slots
continuous batching; cancellation, bounded memory.

32 streaming clients at once against a scripted fake backend; some hang up midway and the fake
records that its generation saw `should_stop()` (or was cancelled in the batch) and ended early.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import tracemalloc

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from sparkcode.server import create_app
try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, FakeBatchBackend, default_script, running
except ImportError:
    from test_server_support import FakeBackend, FakeBatchBackend, default_script, running

N_CLIENTS = 32


def expected_answer(prompt: str) -> str:
    return f"answer for {prompt}: " + " ".join(f"t{j}" for j in range(20))


def load_script(req) -> str:
    content = str(req.messages[-1].get("content") or "")
    if content.startswith("client-"):
        return expected_answer(content)
    return default_script(req)


@pytest.fixture(scope="module")
def fake():
    return FakeBackend(load_script, delay_s=0.001)


@pytest.fixture(scope="module")
def base_url(fake):
    with running(create_app(fake, max_queue=64)) as url:
        yield url


async def stream_chat(client: httpx.AsyncClient, prompt: str, hang_up_after: int | None = None) -> dict:
    """Stream one answer; with `hang_up_after`, close the connection after that many content chunks."""
    body = {"messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}}
    text, finish, usage, n = "", None, None, 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return {"status": r.status_code, "text": r.text}
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            assert "error" not in chunk, chunk
            if chunk["choices"]:
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content")
                if piece:
                    text += piece
                    n += 1
                    if hang_up_after is not None and n >= hang_up_after:
                        return {"status": 200, "text": text, "hung_up": True}
                finish = choice["finish_reason"] or finish
            usage = chunk.get("usage") or usage
    return {"status": 200, "text": text, "finish": finish, "usage": usage}


async def wait_idle(client: httpx.AsyncClient, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        h = (await client.get("/health")).json()
        if h["queue_depth"] == 0 and h["in_flight"] == 0:
            return
        assert time.monotonic() < deadline, f"server not idle: {h}"
        await asyncio.sleep(0.02)


async def run_round(base_url: str, tag: str, hang_ups: int = 0) -> tuple[list[dict], list[dict]]:
    limits = httpx.Limits(max_connections=N_CLIENTS + hang_ups + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        normal = [stream_chat(client, f"client-{tag}-{i}") for i in range(N_CLIENTS)]
        quitters = [stream_chat(client, f"long {tag}-{i}", hang_up_after=3) for i in range(hang_ups)]
        results = await asyncio.gather(*normal, *quitters)
        await wait_idle(client)
    return results[:N_CLIENTS], results[N_CLIENTS:]


def test_32_concurrent_streams_complete(base_url, fake):
    start = len(fake.generations)
    done, _ = asyncio.run(run_round(base_url, "a"))
    assert [r["status"] for r in done] == [200] * N_CLIENTS
    for i, r in enumerate(done):
        assert r["text"] == expected_answer(f"client-a-{i}")
        assert r["finish"] == "stop" and r["usage"]["completion_tokens"] == 23
    assert len(fake.generations) - start == N_CLIENTS
    assert fake.max_concurrent == 1  # the scheduler never ran two generations at once


def test_with_parallel_slots_32_streams_are_decoded_four_at_a_time(fake):
    batched = FakeBatchBackend(load_script, delay_s=0.001)
    with running(create_app(batched, max_queue=64, parallel=4)) as url:
        done, quit = asyncio.run(run_round(url, "p", hang_ups=4))
    assert [r["status"] for r in done + quit] == [200] * (N_CLIENTS + 4)
    for i, r in enumerate(done):
        assert r["text"] == expected_answer(f"client-p-{i}")
        assert r["finish"] == "stop" and r["usage"]["completion_tokens"] == 23
    assert batched.max_concurrent == 4  # real concurrency, bounded by the slots
    quitters = [g for g in batched.generations if g.messages[-1]["content"].startswith("long p-")]
    assert len(quitters) == 4 and all(g.stopped_early and g.emitted < g.planned / 2 for g in quitters)


def test_disconnecting_clients_stop_their_generation(base_url, fake):
    start = len(fake.generations)
    done, quit = asyncio.run(run_round(base_url, "b", hang_ups=8))
    assert [r["status"] for r in done + quit] == [200] * (N_CLIENTS + 8)
    assert all(r["text"] == expected_answer(f"client-b-{i}") for i, r in enumerate(done))
    assert all(r.get("hung_up") for r in quit)
    gens = {g.messages[-1]["content"]: g for g in fake.generations[start:]}
    long_gens = [g for p, g in gens.items() if p.startswith("long b-")]
    assert len(long_gens) == 8  # each hung up only after receiving tokens, so each one ran
    for g in long_gens:
        assert g.stopped_early and g.finish_reason == "cancelled"
        assert g.emitted < g.planned / 2, (g.emitted, g.planned)


def test_client_giving_up_while_queued_is_dropped_from_the_queue(base_url, fake):
    async def scenario():
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            gave_up = asyncio.Event()

            async def hog():  # keeps the backend busy until the queued client has given up
                body = {"messages": [{"role": "user", "content": "forever hog"}], "stream": True}
                async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                    async for _ in r.aiter_lines():
                        if gave_up.is_set():
                            return (await client.get("/health")).json()

            async def impatient():
                while (await client.get("/health")).json()["in_flight"] == 0:
                    await asyncio.sleep(0.01)
                with pytest.raises(httpx.ReadTimeout):
                    await client.post("/v1/chat/completions", timeout=0.3,
                                      json={"messages": [{"role": "user", "content": "impatient"}]})
                deadline = time.monotonic() + 5
                while (await client.get("/health")).json()["queue_depth"] != 0:  # dropped, not waiting
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)
                gave_up.set()

            health, _ = await asyncio.gather(hog(), impatient())
            await wait_idle(client)
            return health

    start = len(fake.generations)
    health = asyncio.run(scenario())
    assert health["in_flight"] == 1 and health["queue_depth"] == 0
    prompts = [g.messages[-1]["content"] for g in fake.generations[start:]]
    assert prompts == ["forever hog"]  # "impatient" never reached the backend
    assert fake.generations[-1].stopped_early


def test_websocket_sessions_alongside_http_load(base_url, fake):
    async def session(i: int) -> list[dict]:
        async with ws_connect(base_url.replace("http", "ws") + "/v1/sessions/ws") as ws:
            await ws.send(json.dumps({"type": "start", "system": f"session {i}"}))
            assert json.loads(await ws.recv())["type"] == "ready"
            dones = []
            for turn in ("one", "two"):
                await ws.send(json.dumps({"type": "message", "content": f"s{i} {turn}"}))
                while (ev := json.loads(await ws.recv()))["type"] != "done":
                    assert ev["type"] == "token", ev
                dones.append(ev)
            return dones

    async def scenario():
        return await asyncio.gather(run_round(base_url, "c"), *(session(i) for i in range(6)))

    (http_done, _), *sessions = asyncio.run(scenario())
    assert all(r["text"] == expected_answer(f"client-c-{i}") for i, r in enumerate(http_done))
    for i, dones in enumerate(sessions):
        assert [d["turn"] for d in dones] == [1, 2]
        assert dones[1]["text"] == f"Echo: s{i} two"
    turn2 = {g.messages[-1]["content"]: g.messages for g in fake.generations if len(g.messages) == 4}
    for i in range(6):
        assert turn2[f"s{i} two"] == [{"role": "system", "content": f"session {i}"},
                                      {"role": "user", "content": f"s{i} one"},
                                      {"role": "assistant", "content": f"Echo: s{i} one"},
                                      {"role": "user", "content": f"s{i} two"}]


def test_memory_stays_bounded(base_url, fake):
    asyncio.run(run_round(base_url, "warm", hang_ups=2))
    gc.collect()
    threads_before = threading.active_count()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(3):
            asyncio.run(run_round(base_url, f"m{n}", hang_ups=2))
        fake.generations.clear()  # the fake's own log is not the server's memory
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 2_000_000, f"grew by {after - before} bytes over 3 rounds"
    assert threading.active_count() <= threads_before + 2
