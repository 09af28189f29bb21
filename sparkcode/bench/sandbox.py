"""Running untrusted generated Python (benchmark answers) in a throw-away, resource-limited child.

`run_python(code)` writes the code to a fresh temporary folder and runs it there with
``python3 -I`` through the agent's sandboxed shell (`agent.shell.run_command`), which gives:

- a scrubbed environment: PATH, LANG, HOME = TMPDIR = the temp folder, nothing else (no keys);
- rlimits: address space (1 GiB by default, so a huge allocation raises MemoryError), CPU
  seconds, file size (16 MiB), no core dumps; a process-count watchdog that kills the whole
  group past 32 processes (RLIMIT_NPROC does not bind root, the watchdog does), so a fork
  bomb is contained; a wall-clock timeout after which every process of the run is killed;
- output capped (head and tail kept; a run printing more than 4 MiB is killed).

On top of that, where the kernel has **Landlock** (Linux >= 5.13 with the LSM enabled; no root
needed), the child restricts itself before the code runs:

- filesystem writes (create, write, truncate, delete, rename, link...) are refused everywhere
  except the temp folder and /dev/null; reading stays allowed;
- with Landlock ABI >= 4, TCP connect and bind are refused;
- with ABI >= 6, it cannot signal processes outside its own sandbox (no killing the harness).

What it is NOT: a full jail. Without Landlock (older kernels, other OSes) a write to an
absolute path outside the folder succeeds with the user's permissions — `jail` in the result
says which case applies. Even with Landlock, UDP and Unix-socket traffic is not blocked, files
the user can read stay readable, and nothing stops a CPU-heavy run from slowing the machine
until the timeout. Use a VM or container for code you actively distrust; HumanEval answers
from a local model are merely buggy, not hostile.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..agent.shell import Limits, run_command

PROGRAM = "program.py"
JAIL = "_jail.py"
JAIL_FAILED_EXIT = 125

# Stdlib-only bootstrap run by the child: apply Landlock (if asked), then exec the program so it
# runs as a normal ``__main__`` script inside the restricted domain.
_JAIL_SOURCE = r'''
import ctypes, os, struct, sys

def landlock(root):
    libc = ctypes.CDLL(None, use_errno=True)
    sc = lambda *a: libc.syscall(*[ctypes.c_long(x) if isinstance(x, int) else x for x in a])
    abi = sc(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available")
    fs = 0
    for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12):  # WRITE_FILE, REMOVE_*, MAKE_*
        fs |= 1 << bit
    if abi >= 2:
        fs |= 1 << 13  # REFER (rename/link across folders)
    if abi >= 3:
        fs |= 1 << 14  # TRUNCATE
    net = 0b11 if abi >= 4 else 0  # BIND_TCP, CONNECT_TCP
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets, signals
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    rs = sc(444, buf, len(attr), 0)
    if rs < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    file_rights = (1 << 1) | ((1 << 14) if abi >= 3 else 0)
    for path, rights in ((root, fs), ("/dev/null", file_rights)):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        if sc(445, rs, 1, rule, 0) != 0:  # landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)
            raise OSError(ctypes.get_errno(), "landlock_add_rule failed for " + path)
        os.close(fd)
    if libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if sc(446, rs, 0) != 0:  # landlock_restrict_self
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(rs)

if sys.argv[1] == "landlock":
    try:
        landlock(os.getcwd())
    except Exception as e:
        sys.stderr.write("sandbox: could not apply Landlock: %s\n" % (e,))
        sys.exit(125)
os.execv(sys.executable, [sys.executable, "-I", "-B", sys.argv[2]])
'''


@dataclass
class SandboxResult:
    exit_code: int
    output: str  # stdout and stderr, merged, head and tail kept when long
    timed_out: bool
    killed: str | None  # "timeout", "processes", "output", or None
    duration_s: float
    jail: str  # "landlock-vN" or "none" (see the module docstring)
    pid: int = 0  # the run's process group (all of it is gone when run_python returns)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed is None


@lru_cache(maxsize=1)
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable (asks, changes nothing)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        v = libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))
    except (OSError, AttributeError):
        return 0
    return max(int(v), 0)


def jail_kind() -> str:
    abi = landlock_abi()
    return f"landlock-v{abi}" if abi else "none"


def run_python(code: str, timeout: float = 10, memory_bytes: int = 1 << 30, max_output: int = 8000,
               files: dict[str, str] | None = None, jail: bool = True) -> SandboxResult:
    """Run `code` as a script in a fresh temp folder (deleted afterwards); see the module docstring."""
    root = Path(tempfile.mkdtemp(prefix="sparkcode-sandbox-"))
    try:
        (root / PROGRAM).write_text(code, encoding="utf-8")
        (root / JAIL).write_text(_JAIL_SOURCE, encoding="utf-8")
        for name, text in (files or {}).items():
            (root / name).write_text(text, encoding="utf-8")
        use_jail = jail and landlock_abi() > 0
        mode = "landlock" if use_jail else "none"
        cmd = f"exec {shlex.quote(sys.executable)} -I -B {JAIL} {mode} {PROGRAM}"
        limits = Limits(address_space=memory_bytes, file_size=16 << 20, cpu_seconds=int(timeout) + 2, processes=32)
        r = run_command(cmd, root, timeout=timeout, max_output=max_output, limits=limits,
                        env_extra={"TMPDIR": str(root), "PYTHONHASHSEED": "0"}, max_stream_bytes=4 << 20)
        if use_jail and r.exit_code == JAIL_FAILED_EXIT and "sandbox: could not apply Landlock" in r.output:
            raise RuntimeError(r.output.strip())  # never run unconfined when confinement was expected
        return SandboxResult(r.exit_code, r.output, r.timed_out, r.killed, r.duration_s,
                             jail_kind() if use_jail else "none", r.pid)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _selftest() -> None:  # pragma: no cover - a manual check: python -m sparkcode.bench.sandbox
    target = Path(tempfile.gettempdir()) / f"sparkcode-escape-{os.getpid()}"
    r = run_python(f"open({str(target)!r}, 'w').write('x')")
    print(r.jail, r.exit_code, r.output.strip().splitlines()[-1:] or "", "escaped!" if target.exists() else "contained")
    target.unlink(missing_ok=True)


if __name__ == "__main__":
    _selftest()
