"""The write lock is a kernel lock: held by one run at a time, released when its holder dies on
any host, never blocked by what the file holds, and fenced (`check()`, `token`)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import connector
from connector.errors import ExitCode, LockHeld, LockLost
from connector.lock import WriteLock

TREE = Path(connector.__file__).resolve().parent.parent  # the code under test, for children

HOLD = """
import sys
from pathlib import Path
from connector import logs
from connector.lock import WriteLock
logs.configure(run_id="hold", level="warning", stream=sys.stderr)
lock = WriteLock(Path(sys.argv[1]), owner=sys.argv[2], run_id=sys.argv[2])
lock.acquire()
print("held", getattr(lock, "token", 0), flush=True)
sys.stdin.read()  # hold until killed
"""

TAKE = """
import json, socket, sys
from pathlib import Path
from connector.errors import LockHeld
from connector import logs
from connector.lock import WriteLock
logs.configure(run_id="take", level="warning", stream=sys.stderr)
try:
    with WriteLock(Path(sys.argv[1]), owner=sys.argv[2], run_id=sys.argv[2]) as lock:
        taken = {"token": getattr(lock, "token", 0), "host": socket.gethostname()}
        print(json.dumps(taken), flush=True)
except LockHeld as exc:
    print("LockHeld:", exc, flush=True)
    sys.exit(10)
"""


def _unshare_problem() -> str | None:
    if shutil.which("unshare") is None:
        return "`unshare` is not installed"
    probe = subprocess.run(
        ["unshare", "-u", "hostname", "probe-host"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"`unshare -u` is not allowed here: {probe.stderr.strip()}"
    return None


def _in_uts(host: str, script: str, *args: str) -> list[str]:
    """A command that runs `script` in a new UTS namespace whose hostname is `host`."""
    return [
        "unshare",
        "-u",
        "sh",
        "-c",
        f'hostname {host} && exec "$0" "$@"',
        sys.executable,
        "-c",
        script,
        *args,
    ]


def test_a_lock_left_by_a_killed_run_on_another_host_is_free_at_once(tmp_path: Path) -> None:
    problem = _unshare_problem()
    if problem:
        pytest.skip(problem)
    state = str(tmp_path / "state")
    first = subprocess.Popen(
        _in_uts("pod-a", HOLD, state, "first"),
        cwd=TREE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        assert line.startswith("held"), line
        first_token = int(line.split()[1])
        holder = WriteLock.holder(Path(state))
        assert holder is not None and holder["host"] == "pod-a"
        busy = subprocess.run(
            _in_uts("pod-b", TAKE, state, "second"), cwd=TREE, capture_output=True, text=True
        )
        assert busy.returncode == ExitCode.LOCKED, busy.stderr
        assert "first (pid" in busy.stdout and "on pod-a" in busy.stdout
        first.send_signal(signal.SIGKILL)  # OOM-killed, evicted: no chance to release
        assert first.wait(30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    second = subprocess.run(
        _in_uts("pod-b", TAKE, state, "second"), cwd=TREE, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stdout + second.stderr
    taken = json.loads(second.stdout)
    assert taken["host"] == "pod-b" and taken["token"] > first_token
    assert WriteLock.holder(Path(state)) is None


def _racer(state: str, log: str, barrier: Any, trials: int) -> None:
    pid = os.getpid()
    for trial in range(trials):
        barrier.wait(60)  # the parent has set the trial up
        try:
            with WriteLock(Path(state), owner=f"p{pid}", run_id=str(trial)):
                fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, f"{trial} start {pid}\n".encode())
                    for _ in range(300):  # some work while holding it: a second holder shows
                        os.stat(state)
                    os.write(fd, f"{trial} end {pid}\n".encode())
                finally:
                    os.close(fd)
        except LockHeld:
            pass
        barrier.wait(60)  # trial over


def _dead_pid() -> int:
    dead = multiprocessing.get_context("spawn").Process(target=os.getpid)
    dead.start()
    dead.join()
    assert dead.pid is not None
    return dead.pid


@pytest.mark.parametrize("processes", [2, 4])
def test_racing_takers_of_a_stale_lock_never_hold_it_twice(tmp_path: Path, processes: int) -> None:
    """100 trials: each starts from a lock file left by a dead run on this host, then all
    processes try at once. The holders' appends never overlap, and every trial has a holder."""
    trials = 100
    state, log = tmp_path / "state", tmp_path / "holders.log"
    state.mkdir()
    stale = json.dumps(
        {
            "owner": "crashed",
            "pid": _dead_pid(),
            "host": socket.gethostname(),
            "started_at": "2026-01-01T00:00:00+00:00",
            "run_id": "r0",
        }
    )
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    racers = [
        ctx.Process(target=_racer, args=(str(state), str(log), barrier, trials))
        for _ in range(processes)
    ]
    for racer in racers:
        racer.start()
    try:
        for _ in range(trials):
            (state / "write.lock").write_text(stale)  # what a dead run left behind
            barrier.wait(60)  # go
            barrier.wait(60)  # done
    finally:
        for racer in racers:
            racer.join(60)
            if racer.is_alive():
                racer.kill()
    assert all(r.exitcode == 0 for r in racers)
    lines = log.read_text().splitlines()
    double, held_in = 0, set()
    holding: str | None = None
    for line in lines:
        trial, event, pid = line.split()
        if event == "start":
            double += holding is not None
            holding = pid
            held_in.add(trial)
        else:
            holding = None if holding == pid else holding
    assert double == 0, f"{double} double holders in {trials} trials"
    assert held_in == {str(t) for t in range(trials)}  # the stale file never blocked anyone
    assert not list(state.glob("write.lock.stale-*"))  # nothing piles up


@pytest.mark.parametrize("content", [b"", b"\x00\x00garbage{", b'{"pid": "x"'])
def test_an_empty_or_garbled_lock_file_never_blocks(tmp_path: Path, content: bytes) -> None:
    """A full disk can leave write.lock empty or half written: that is not a lock."""
    (tmp_path / "write.lock").write_bytes(content)
    assert WriteLock.holder(tmp_path) is None
    with WriteLock(tmp_path, owner="me", run_id="r1") as lock:
        first = lock.token
        assert first is not None
        assert json.loads((tmp_path / "write.lock").read_text())["owner"] == "me"
    (tmp_path / "write.lock.token").write_text("not a number")  # garbled token: still grows
    with WriteLock(tmp_path, owner="me", run_id="r2") as again:
        assert again.token is not None and again.token > first


def test_held_lock_names_its_holder_even_when_its_details_are_unreadable(tmp_path: Path) -> None:
    with WriteLock(tmp_path, owner="cron", run_id="r-cron") as held:
        with pytest.raises(LockHeld, match=r"cron \(pid \d+ on .*run r-cron\)") as caught:
            WriteLock(tmp_path, owner="me", run_id="r-me").acquire()
        assert caught.value.exit_code == ExitCode.LOCKED
        (tmp_path / "write.lock").write_bytes(b"")  # details lost: the lock itself is not
        with pytest.raises(LockHeld, match="its details are not readable"):
            WriteLock(tmp_path, owner="me", run_id="r-me").acquire()
        assert WriteLock.holder(tmp_path) == {"unreadable": True}
        held.check()  # truncating the details does not take the lock away
    assert WriteLock.holder(tmp_path) is None


def test_tokens_grow_and_check_fences_a_run_that_lost_its_lock(tmp_path: Path) -> None:
    tokens = []
    for run in range(3):
        with WriteLock(tmp_path, owner="me", run_id=f"r{run}") as lock:
            lock.check()
            tokens.append(lock.token)
    assert tokens == sorted(tokens) and len(set(tokens)) == 3

    first = WriteLock(tmp_path, owner="first", run_id="r-first")
    first.acquire()
    try:
        first.check()
        (tmp_path / "write.lock").unlink()  # someone "cleans up" by hand
        with pytest.raises(LockLost, match="deleted") as lost:
            first.check()
        assert lost.value.exit_code == ExitCode.LOCKED and "never delete" in lost.value.hint
        with WriteLock(tmp_path, owner="second", run_id="r-second") as second:
            second.check()  # a second run took a new file: only it may click now
            assert second.token is not None and first.token is not None
            assert second.token > first.token
            with pytest.raises(LockLost, match=r"replaced|another run took"):
                first.check()
    finally:
        first.release()
    with pytest.raises(LockLost, match="not held"):
        first.check()


def test_replacing_the_lock_file_is_found_by_check(tmp_path: Path) -> None:
    with WriteLock(tmp_path, owner="me", run_id="r1") as lock:
        other = tmp_path / "other"
        other.write_text("{}")
        os.replace(other, tmp_path / "write.lock")
        with pytest.raises(LockLost, match="replaced"):
            lock.check()
