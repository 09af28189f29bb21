"""The limited shell: results, scrubbed environment, limits, and the adversarial commands."""

import os
import resource
import time

from sparkcode.agent.shell import CommandResult, Limits, group_members, run_command


def _gone(pgid: int, wait: float = 2.0) -> bool:
    deadline = time.monotonic() + wait
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_exit_code_and_merged_output(tmp_path):
    r = run_command("echo out; echo err >&2; exit 3", tmp_path)
    assert isinstance(r, CommandResult)
    assert r.exit_code == 3 and not r.ok
    assert r.output == "out\nerr\n"
    assert not r.timed_out and not r.truncated and r.killed is None
    assert r.duration_s < 5


def test_runs_in_cwd_with_stdin_closed(tmp_path):
    (tmp_path / "marker.txt").write_text("here")
    r = run_command("pwd; cat marker.txt; cat", tmp_path)  # `cat` with no stdin must not hang
    assert r.ok and r.output == f"{tmp_path.resolve()}\nhere"


def test_failing_command_never_raises(tmp_path):
    r = run_command("definitely-not-a-command-xyz", tmp_path)
    assert r.exit_code == 127 and "not found" in r.output
    r = run_command("echo hi", tmp_path / "missing")
    assert r.exit_code == 127 and "does not exist" in r.output
    r = run_command("echo a\0b", tmp_path)
    assert r.exit_code == 127 and "cannot run" in r.output


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("SOMETHING_ELSE", "x")
    r = run_command("env", tmp_path, env_extra={"EXTRA": "1"})
    env = dict(line.split("=", 1) for line in r.output.splitlines() if "=" in line)
    assert "sk-secret" not in r.output and "ghp_secret" not in r.output
    assert "SOMETHING_ELSE" not in env
    assert env["HOME"] == str(tmp_path) and env["TERM"] == "dumb" and env["EXTRA"] == "1"
    assert set(env) - {"PATH", "HOME", "LANG", "TERM", "EXTRA", "PWD", "SHLVL", "_", "OLDPWD"} == set()


def test_unsandboxed_keeps_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    r = run_command("echo $SOMETHING_ELSE; ulimit -v", tmp_path, sandbox=False)
    assert r.output.splitlines()[0] == "kept"


def test_resource_limits_are_applied(tmp_path):
    r = run_command("ulimit -v; ulimit -f; ulimit -c; ulimit -t", tmp_path, timeout=20)
    virt, fsize, core, cpu = r.output.split()
    assert int(virt) <= 2 * 1024 * 1024  # KiB
    assert int(fsize) * 1024 <= 64 << 20 or int(fsize) * 512 <= 64 << 20
    assert core == "0"
    assert int(cpu) <= 35


def test_memory_hog_is_refused(tmp_path):
    r = run_command("python3 -c 'b = bytearray(3 << 30); print(len(b))'", tmp_path)
    assert r.exit_code != 0 and "MemoryError" in r.output


def test_file_size_limit(tmp_path):
    r = run_command("head -c 100000000 /dev/zero > big.bin; echo rc=$?", tmp_path, limits=Limits(file_size=1 << 20))
    assert "rc=153" in r.output  # 128 + SIGXFSZ
    assert (tmp_path / "big.bin").stat().st_size == 1 << 20


# ---- adversarial ------------------------------------------------------------------------------

def test_huge_output_is_capped_and_memory_stays_flat(tmp_path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run_command("yes", tmp_path, timeout=20, max_output=10_000, max_stream_bytes=32 << 20)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert r.truncated and r.killed == "output" and not r.timed_out
    assert len(r.output) < 10_500
    assert "bytes of output cut" in r.output and "printed more than 32 MiB" in r.output
    assert r.output.startswith("y\ny\n")
    assert after - before < 64 * 1024  # ru_maxrss is in KiB: well under the 32 MiB streamed
    assert _gone(r.pid)


def test_cat_dev_zero_is_capped(tmp_path):
    r = run_command("cat /dev/zero", tmp_path, timeout=20, max_output=4000, max_stream_bytes=8 << 20)
    assert r.truncated and r.killed == "output" and len(r.output) < 4500
    assert "\x00" not in r.output


def test_big_output_within_limits_keeps_head_and_tail(tmp_path):
    r = run_command("seq 1 100000", tmp_path, max_output=2000)
    assert r.ok and r.truncated
    assert r.output.startswith("1\n2\n3\n") and r.output.endswith("99999\n100000\n")


def test_never_ending_command_is_killed(tmp_path):
    start = time.monotonic()
    r = run_command("echo started; sleep 1000 & sleep 1000", tmp_path, timeout=1)
    assert time.monotonic() - start < 5
    assert r.timed_out and r.killed == "timeout" and r.exit_code == 137
    assert r.output.startswith("started\n") and "still running after 1s" in r.output
    assert _gone(r.pid)


def test_busy_loop_is_killed(tmp_path):
    r = run_command("while :; do :; done", tmp_path, timeout=0.5)
    assert r.timed_out and _gone(r.pid)


def test_background_leftovers_do_not_outlive_the_command(tmp_path):
    r = run_command("sleep 1000 & echo done", tmp_path, timeout=10)
    assert r.ok and r.output.startswith("done\n") and r.duration_s < 5
    assert _gone(r.pid)


def test_closing_stdout_does_not_end_the_command_early(tmp_path):
    r = run_command("echo a; exec >/dev/null 2>&1; sleep 0.3; touch after", tmp_path, timeout=10)
    assert r.ok and r.output == "a\n"
    assert (tmp_path / "after").exists()


def test_background_leftovers_are_reported(tmp_path):
    r = run_command("sleep 1000 & sleep 1000 & true", tmp_path, timeout=10)
    assert r.ok and "stopped 2 background process(es)" in r.output
    assert _gone(r.pid)


def test_fork_bomb_is_contained(tmp_path):
    # bash returns at once and the bomb runs on in the background: killed as leftovers, or by
    # the watchdog if it trips first
    start = time.monotonic()
    r = run_command(":(){ :|:& };:", tmp_path, timeout=20, limits=Limits(processes=64))
    assert time.monotonic() - start < 15
    assert _gone(r.pid, wait=5), "fork bomb processes left running"
    again = run_command("echo alive", tmp_path)  # the machine is fine
    assert again.ok and again.output == "alive\n"


def test_fork_bomb_while_the_command_waits_trips_the_watchdog(tmp_path):
    start = time.monotonic()
    r = run_command(":(){ :|:& };: ; sleep 30", tmp_path, timeout=40, limits=Limits(processes=64))
    # well before the 40 s timeout (usually 0.2 s; once 15 s in the whole suite, killing the bomb on 2 loaded cores)
    assert time.monotonic() - start < 30
    assert not r.ok and r.killed in ("processes", "timeout")
    if os.geteuid() == 0:  # RLIMIT_NPROC does not bind root: only the watchdog stops it
        assert r.killed == "processes" and "started more than 64 processes" in r.output
    assert _gone(r.pid, wait=5), "fork bomb processes left running"
    assert run_command("echo alive", tmp_path).output == "alive\n"


def test_shell_is_not_a_filesystem_jail(tmp_path):
    """Documented limitation: in workspace-write mode a command can write outside the workspace."""
    ws = tmp_path / "ws"
    ws.mkdir()
    r = run_command("echo escaped > ../outside.txt", ws)
    assert r.ok and (tmp_path / "outside.txt").read_text() == "escaped\n"
