"""A hall for the tests: `bash deploy/hall.sh up N` on free loopback ports in a temporary run folder, and `down`.

    with Hall(3) as hall:            # or Hall(3, balance="round-robin"): no affinity
        hall.url                     # nginx, e.g. http://127.0.0.1:23080
        hall.pid("app-2"), hall.rss_mb("app-2"), hall.kill("app-2")   # by the PIDs the script recorded

Only what the script started is stopped: `down` signals the PIDs in the run folder, and kill() one of them.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HALL_SH = ROOT / "deploy" / "hall.sh"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    for _ in range(200):
        base = random.randrange(20000, 40000)
        if all(port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


class Hall:
    def __init__(self, processes: int, balance: str = "cookie", start_timeout_s: int = 240):
        self.processes, self.balance, self.start_timeout_s = processes, balance, start_timeout_s
        self.run = Path(tempfile.mkdtemp(prefix="moeviz-hall-"))
        self.port, self.app_port, self.redis_port = free_ports(1), free_ports(processes), free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, MOEVIZ_HALL_RUN=str(self.run), MOEVIZ_HALL_PORT=str(self.port),
                        MOEVIZ_HALL_APP_PORT=str(self.app_port), MOEVIZ_HALL_REDIS_PORT=str(self.redis_port),
                        MOEVIZ_HALL_BALANCE=balance, MOEVIZ_HALL_START_TIMEOUT=str(start_timeout_s))

    def script(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(HALL_SH), *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout or self.start_timeout_s + 60)

    def up(self) -> str:
        done = self.script("up", str(self.processes))
        if done.returncode != 0:
            self.down()
            raise RuntimeError(f"hall.sh up failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.logs()}")
        assert done.stdout.strip().splitlines()[-1] == self.url, done.stdout
        return self.url

    def down(self) -> None:
        self.script("down", timeout=120)
        shutil.rmtree(self.run, ignore_errors=True)

    def names(self) -> list[str]:
        return [f"app-{i}" for i in range(1, self.processes + 1)]

    def pid(self, name: str) -> int:
        return int((self.run / "pids" / f"{name}.pid").read_text().split()[0])

    def rss_mb(self, name: str) -> float:
        with open(f"/proc/{self.pid(name)}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

    def kill(self, name: str) -> None:
        """SIGKILL one app process's group (a crash, not a shutdown): the PID the script recorded."""
        os.killpg(self.pid(name), signal.SIGKILL)

    def rebalance(self, balance: str) -> None:
        """Switch nginx to `balance` (cookie or round-robin) without a restart: rewrite its config, then SIGHUP
        (what `nginx -s reload` sends); the app processes and their sessions stay."""
        done = subprocess.run(["bash", str(HALL_SH), "config", str(self.processes)], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env=dict(self.env, MOEVIZ_HALL_BALANCE=balance))
        assert done.returncode == 0, done.stderr
        os.kill(self.pid("nginx"), signal.SIGHUP)
        self.balance = balance

    def access_log(self) -> str:
        return (self.run / "nginx-access.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                         for p in sorted((self.run / "logs").glob("*.log"))) if (self.run / "logs").exists() else ""

    def __enter__(self) -> "Hall":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()
