"""The server in a child process, as a user starts it: for the tests, the load benchmark and the page's screenshot.

    with ServerProcess("model/best") as server:   # `python -m paddle_vae.serve ... --port 0`
        httpx.get(server.url + "health")
    server.returncode, server.output               # after SIGTERM: 0 and its lines, "stopped" last

`--port 0` lets the system pick a free loopback port, so two of these never race for one; the address is read
from the server's first line. Its output is drained on a thread all along, so a chatty server never blocks on a
full pipe, and kept for the caller to read.
"""
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Optional, Sequence

ADDRESS = re.compile(r" at (http://\S+/) ")
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # so the child runs this very copy of paddle_vae


class ServerProcess:
    """`python -m paddle_vae.serve` on a free port in a child process, as an operator runs it, so the tests and
    the benchmarks talk to the real command over HTTP; `url` is set once the server has printed its address."""

    def __init__(self, bundle: str, flags: Sequence[str] = (), python: str = sys.executable,
                 start_timeout: float = 120.0):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_PARENT,
                                                                          os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([python, "-m", "paddle_vae.serve", "--init_from_ckpt", str(bundle),
                                      "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, env=env)
        self.lines: List[str] = []
        self._new: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.url = self._wait_for_address(start_timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def _wait_for_address(self, timeout: float) -> str:
        while True:
            try:
                line = self._new.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout:g} s:\n{self.output}") from None
            if line is None:
                self.proc.wait()
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.output}")
            found = ADDRESS.search(line)
            if found:
                return found.group(1)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a service manager stops it; the exit status (a kill after `timeout` seconds: negative)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)  # its last lines ("stopped") are in self.lines once this returns
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
