"""A real ``sovcarbon serve`` process for the tests that need one, over real HTTP: a free port, an environment
without the caller's SOVCARBON_* settings, start, wait until it answers, stop (SIGTERM, then kill).

Used by the end-to-end, shutdown, hardening, tamper, replica and worker tests and by the two registries of the
interop tests (``tests/interop/peer_world.py``); no test starts a server by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "sovcarbon.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its SOVCARBON_* settings, plus the data dir and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env["SOVCARBON_DATA_DIR"] = str(data_dir)
    env.update(settings)
    return env


def run_cli(env: dict[str, str], *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout_s)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Served:
    """A running ``sovcarbon serve``; its output (stdout and stderr) is read when it stops, or, with a
    ``log_path``, goes to that file (readable while it runs: long-lived servers never fill a pipe)."""

    proc: subprocess.Popen[str]
    port: int
    output: str | None = None  # set when stopped
    log_path: Path | None = None

    def log(self, tail_chars: int = 3000) -> str:
        """The end of what it printed so far (with a ``log_path``; else what it printed once stopped)."""
        if self.log_path is not None:
            return self.log_path.read_text()[-tail_chars:] if self.log_path.exists() else ""
        return (self.output or "")[-tail_chars:]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until(self, ready: Callable[[], bool], timeout_s: float = 120, what: str = "the server") -> None:
        """Poll ``ready`` until it holds; fail with the server's output if it exits or the time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}) waiting for {what}: {self.stop()}")
            time.sleep(0.3)
        raise AssertionError(f"{what} not ready within {timeout_s} s: {self.stop()}")

    def wait_healthy(self, timeout_s: float = 120) -> None:
        self.wait_until(lambda: healthy(self.base), timeout_s, "/healthz")

    def stop(self, timeout_s: float = 60) -> str:
        """SIGTERM (the server's shutdown runs), then kill if it hangs; returns everything it printed."""
        if self.output is not None:
            return self.output
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            output, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate(timeout=10)
        self.output = output or ""
        if self.log_path is not None:
            self.output = self.log()
        return self.output


def start(env: dict[str, str], *args: str, port: int | None = None, log_path: Path | None = None) -> Served:
    """``sovcarbon serve --port PORT ARGS`` in the background (not waited for); its output to a pipe read when
    it stops, or appended to ``log_path``."""
    port = port or free_port()
    command = [*CLI, "serve", "--port", str(port), *args]
    if log_path is None:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    else:
        with log_path.open("a") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    return Served(proc, port, log_path=log_path)


def start_healthy(env: dict[str, str], *args: str, timeout_s: float = 120) -> Served:
    served = start(env, *args)
    served.wait_healthy(timeout_s)
    return served
