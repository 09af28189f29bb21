"""Running one shell command for the agent: bounded in time, output, memory and processes.

`run_command` runs ``bash -c CMD`` in the workspace, in a new session (so its own process
group), and never raises for a command that fails: every outcome is a `CommandResult`.

What confines a command (with ``sandbox=True``, the default):

* the environment is scrubbed: only PATH, HOME (= the workspace), LANG and TERM=dumb, plus
  what the caller passes in ``env_extra``; API keys, tokens and everything else are dropped;
* resource limits set in the child before exec (`Limits`): address space (2 GiB; runtimes
  that reserve large virtual ranges, like the JVM or some node builds, may need more or
  ``address_space=None``), file size (64 MiB), CPU seconds (the timeout plus a margin), no core
  dumps, and RLIMIT_NPROC (the user's current thread count plus headroom). The kernel ignores
  RLIMIT_NPROC for root, so a watchdog thread also counts the group's processes through /proc
  and kills the whole group once they pass ``Limits.processes`` (this is what stops a fork
  bomb when running as root); the command also runs at nice +5, so a runaway cannot starve
  the watchdog or the agent;
* a wall-clock timeout, after which the whole process group (and anything else still in the
  session) gets SIGKILL; the same happens to leftovers (``cmd &``) when bash itself exits, so
  nothing a command starts outlives it;
* output (stdout and stderr, merged) is read as it comes and only its head and tail are kept,
  so ``yes`` or ``cat /dev/zero`` cannot exhaust memory; a command that streams more than
  ``max_stream_bytes`` in total is killed.

What does NOT confine it: this is not a filesystem jail. A command runs with the user's
permissions and can read or write anything they can, outside the workspace included (``echo x
> ~/file``, ``rm -rf ..``); the working directory and HOME only make the workspace the default.
A process that calls setsid() itself leaves the session and escapes the group kill. Real
isolation needs a container or VM around sparkcode; "read-only" mode refuses commands entirely.
"""

from __future__ import annotations

import math
import os
import resource
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HAS_PROC = os.path.isdir("/proc")
_NICE = 5


@dataclass
class CommandResult:
    exit_code: int  # the command's exit status; 128+N when killed by signal N (137 for SIGKILL)
    output: str  # stdout and stderr interleaved, head and tail kept when long
    timed_out: bool
    truncated: bool
    duration_s: float
    killed: str | None = None  # why sparkcode killed it: "timeout", "processes", "output"; None otherwise
    pid: int = 0  # bash's pid, which is also the process group and session id

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed is None


@dataclass
class Limits:
    """Per-process resource limits applied in the child; None leaves one as inherited."""

    address_space: int | None = 2 << 30
    file_size: int | None = 64 << 20
    cpu_seconds: int | None = None  # None: the timeout plus a margin
    processes: int = 256  # RLIMIT_NPROC headroom and the watchdog's cap on the group


def run_command(cmd: str, cwd: Path, timeout: float = 30, max_output: int = 20_000,
                env_extra: dict[str, str] | None = None, *, sandbox: bool = True,
                limits: Limits | None = None, max_stream_bytes: int = 64 << 20) -> CommandResult:
    """Run `cmd` with bash in `cwd`; see the module docstring for the limits. Never raises."""
    start = time.monotonic()
    limits = limits or Limits()
    cwd = Path(cwd)
    if not cwd.is_dir():
        return CommandResult(127, f"cannot run: working directory {cwd} does not exist", False, False, 0.0)
    timeout = max(float(timeout), 0.01)
    env = _environment(cwd, env_extra, sandbox)
    preexec = _limiter(_rlimits(limits, timeout)) if sandbox else None
    try:
        proc = subprocess.Popen(["bash", "-c", cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=preexec, close_fds=True)
    except (OSError, ValueError, subprocess.SubprocessError) as e:  # no bash, NUL in cmd, ...
        return CommandResult(127, f"cannot run the command: {getattr(e, 'strerror', None) or e}", False, False,
                             round(time.monotonic() - start, 3))
    pgid = proc.pid
    capture = _Capture(max_output)
    tripped = threading.Event()
    stop = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(pgid, limits.processes, stop, tripped),
                                name=f"sparkcode-watchdog-{pgid}", daemon=True)
    if _HAS_PROC:
        watchdog.start()
    killed: str | None = None
    give_up_at: float | None = None
    eof = False
    leftovers = 0
    try:
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            deadline = start + timeout
            while True:
                now = time.monotonic()
                if killed is None:
                    if tripped.is_set():
                        killed = "processes"
                    elif now >= deadline:
                        killed = "timeout"
                    elif capture.total > max_stream_bytes:
                        killed = "output"
                    if killed is not None:
                        _kill_group(pgid)
                        give_up_at = now + 2.0
                if give_up_at is None and proc.poll() is not None:
                    leftovers = len(group_members(pgid))
                    _kill_group(pgid)  # leftovers (`cmd &`) must not outlive the command
                    give_up_at = now + 2.0
                if give_up_at is not None and (eof or now > give_up_at):
                    break  # done, or something that escaped the group still holds the pipe open
                if eof:  # output closed but bash still running (`exec >/dev/null; ...`)
                    try:
                        proc.wait(timeout=0.05)
                    except subprocess.TimeoutExpired:
                        pass
                    continue
                if not sel.select(timeout=0.05):
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    capture.add(chunk)
                else:
                    eof = True
    finally:
        stop.set()
        _kill_group(pgid)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        proc.stdout.close()
        if watchdog.is_alive():
            watchdog.join(timeout=1)
    if tripped.is_set() and killed != "processes":
        killed = "processes"
    output, truncated = capture.text()
    rc = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    if rc < 0:
        rc = 128 - rc
    note = {
        "timeout": f"[killed: still running after {timeout:g}s; the command and all its processes were stopped]",
        "processes": f"[killed: started more than {limits.processes} processes (runaway or fork bomb?)]",
        "output": f"[killed: printed more than {max_stream_bytes >> 20} MiB of output]",
    }.get(killed or "")
    if note is None and leftovers:
        note = f"[stopped {leftovers} background process(es) still running when the command finished]"
    if note:
        output = (output + ("\n" if output and not output.endswith("\n") else "") + note)
    return CommandResult(rc, output, killed == "timeout", truncated, round(time.monotonic() - start, 3),
                         killed, pgid)


def _environment(cwd: Path, extra: dict[str, str] | None, sandbox: bool) -> dict[str, str]:
    if sandbox:
        env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "HOME": str(cwd),
               "LANG": "C.UTF-8", "TERM": "dumb"}
    else:
        env = dict(os.environ)
        env["TERM"] = "dumb"
    for k, v in (extra or {}).items():
        env[str(k)] = str(v)
    return env


def _rlimits(limits: Limits, timeout: float) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples, computed in the parent so the child only calls setrlimit."""
    cpu = limits.cpu_seconds or math.ceil(timeout) + 10
    out = [(resource.RLIMIT_CORE, 0, 0), (resource.RLIMIT_CPU, cpu, cpu + 5)]
    if limits.address_space:
        out.append((resource.RLIMIT_AS, limits.address_space, limits.address_space))
    if limits.file_size:
        out.append((resource.RLIMIT_FSIZE, limits.file_size, limits.file_size))
    # RLIMIT_NPROC counts every thread of the user, so give headroom over what already runs.
    nproc = _count_user_threads() + 2 * limits.processes
    out.append((resource.RLIMIT_NPROC, nproc, nproc))
    return out


def _limiter(triples: list[tuple[int, int, int]]):
    def apply() -> None:  # runs in the child between fork and exec: no allocation-heavy work
        try:
            os.nice(_NICE)  # under contention the watchdog and the agent win over the command
        except OSError:
            pass
        for res, soft, hard in triples:
            try:
                cur_hard = resource.getrlimit(res)[1]
                if cur_hard != resource.RLIM_INFINITY:
                    soft, hard = min(soft, cur_hard), min(hard, cur_hard)
                resource.setrlimit(res, (soft, hard))
            except (ValueError, OSError):
                pass
    return apply


# ---- process accounting through /proc -------------------------------------------------------

def _proc_stat(pid: str) -> tuple[bytes, int, int] | None:
    """(state, pgrp, session) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return fields[0], int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group or session is `pgid`."""
    if not _HAS_PROC:
        return []
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _proc_stat(name)
        if st and st[0] not in (b"Z", b"X") and (st[1] == pgid or st[2] == pgid):
            out.append(int(name))
    return out


def _group_exceeds(pgid: int, cap: int) -> bool:
    """Whether more than `cap` live processes are in the group/session; newest pids are read
    first and counting stops at cap + 1, so a fork bomb is spotted after ~cap reads."""
    pids = sorted((int(n) for n in os.listdir("/proc") if n.isdigit()), reverse=True)
    n = 0
    for pid in pids:
        st = _proc_stat(str(pid))
        if st and st[0] not in (b"Z", b"X") and (st[1] == pgid or st[2] == pgid):
            n += 1
            if n > cap:
                return True
    return False


def _count_user_threads() -> int:
    if not _HAS_PROC:
        return 0
    uid = os.getuid()
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return n


def _threads_total() -> int | None:
    """The system's task count from /proc/loadavg: one cheap read, used to decide when to scan."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[1])
    except (OSError, IndexError, ValueError):
        return None


def _kill_group(pgid: int) -> bool:
    """SIGKILL the group and any session stragglers until none is left; True when all gone."""
    for _ in range(100):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        members = group_members(pgid)
        if not members:
            return True
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    return False


def _watch(pgid: int, cap: int, stop: threading.Event, tripped: threading.Event) -> None:
    """Kill the group when it holds more than `cap` processes (RLIMIT_NPROC does not bind root)."""
    baseline = _threads_total()
    last_scan = 0.0
    while not stop.wait(0.005):
        now = time.monotonic()
        total = _threads_total()
        grew = baseline is None or total is None or total - baseline > cap // 2
        if not grew and now - last_scan < 0.5:
            continue
        if baseline is None and now - last_scan < 0.1:
            continue
        last_scan = now
        if _group_exceeds(pgid, cap):
            tripped.set()
            _kill_group(pgid)
            return


class _Capture:
    """Keeps the first and last `limit // 2` bytes of a stream and counts the rest."""

    def __init__(self, limit: int):
        self.head_max = max(limit // 2, 0)
        self.tail_max = max(limit - self.head_max, 0)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk and self.tail_max:
            self.tail += chunk
            if len(self.tail) > 2 * self.tail_max + (1 << 16):
                del self.tail[:-self.tail_max]

    def text(self) -> tuple[str, bool]:
        tail = self.tail[-self.tail_max:] if self.tail_max else bytearray()
        cut = self.total - len(self.head) - len(tail)
        decode = lambda b: bytes(b).decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # noqa: E731
        if cut <= 0:
            return decode(self.head + tail), False
        return f"{decode(self.head)}\n... [{cut} bytes of output cut] ...\n{decode(tail)}", True
