"""`blueplane up`: the embedded Redis, migrations and every long-running process, supervised.

The foreground supervisor runs until Ctrl-C or SIGTERM, like `runserver`. `--detach` runs the same
supervisor in a new session with its output in <home>/logs/blueplane.log; `blueplane down` sends it
SIGTERM and waits (control.py). Either way the supervisor owns <home>/run/supervisor.pid, so a home has
one (runstate.py).

A child that dies is restarted with exponential backoff. On stop every child gets SIGTERM (the fast
path finishes its batch, the worker its tasks), stragglers get SIGKILL after STOP_TIMEOUT_S, and only
then is the embedded Redis shut down (flushing its append-only file; a frozen one by signals), if it
was started by a supervisor (this one, one of its children, or a killed predecessor) and not by a
command run by hand. A Redis that runs without answering is waited for, never replaced by a second
one (blueplane/redis_server.py). Children run in process groups of their own, so a Ctrl-C reaches the
supervisor alone and shutdown happens in that order.
"""

import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from telemetry.capture.runtime import TEAM_NAME, otlp_endpoint

from .redis_server import SUPERVISED_ENV, EmbeddedRedis
from .runstate import STOP_TIMEOUT_S, SupervisorError, leftovers_stop, pid_file_take, pid_path, state_path

logger = logging.getLogger(__name__)

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
# A child exiting with this code cannot run as configured (e.g. the OTLP port belongs to another
# collector): it said why in one line, and restarting it would only loop. EX_CONFIG of sysexits.h.
EXIT_NO_RESTART = 78
# A child that ran this long before dying was healthy: its next restart waits BACKOFF_MIN_S again.
STABLE_AFTER_S = 60.0


@dataclass(frozen=True)
class Process:
    """One long-running child: a name for logs and `blueplane status`, and its command line."""

    name: str
    argv: list[str]
    # A Django management command the child runs: while it does not exist the child is skipped.
    command: str | None = None


def fastpath_consumer() -> str:
    """One consumer name per machine and home, kept across restarts: a fast path restarted after a
    crash first reads again what its predecessor was given and never acknowledged, instead of leaving
    it until it has idled long enough to be reclaimed (BLUEPLANE_FASTPATH_RECLAIM_IDLE_MS, a minute)."""
    home = hashlib.blake2b(str(settings.BLUEPLANE_HOME).encode(), digest_size=4).hexdigest()
    return f"{socket.gethostname()}-{home}"


# `blueplane up --role ROLE` runs the processes of those names; a process's name is its role.
ROLES = ("web", "fastpath", "worker", "beat", "otlp", "capture", "forward")  # forward: only once connected
# The one role that migrates the database on start: the others wait until the schema is current, so a
# worker host started first does not crash-loop on missing tables. One role, because there is one web
# tier in front of users (a deploy's new schema arrives with it); concurrent migrations from several web
# hosts take turns (telemetry/store/schema.py).
MIGRATING_ROLE = "web"


def roles_check(roles: list[str] | None) -> tuple[str, ...]:
    """The roles `up --role` named, in ROLES order and each once; every role when none was named.
    Raises ValueError naming the first unknown one."""
    if not roles:
        return ROLES
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role[:40]!r}: choose from {', '.join(ROLES)}")
    return tuple(r for r in ROLES if r in roles)


def processes_default(*, port: int, bind: str | None = None) -> list[Process]:
    """What `blueplane up` runs, in start order. A new long-running process is one more line here (and
    its name one more entry of ROLES). The web server listens on bind:port (bind defaults to
    BLUEPLANE_BIND)."""
    python = sys.executable
    manage = [python, str(settings.BASE_DIR / "manage.py")]
    celery = [python, "-m", "celery", "-A", "blueplane"]
    return [
        Process("fastpath", [*manage, "runfastpath", "--consumer", fastpath_consumer()]),
        Process(
            "worker",
            [
                *celery,
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "-n",
                f"blueplane-{os.getpid()}@%h",
            ],
        ),
        Process(
            "beat",
            [*celery, "beat", "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        ),
        Process("capture", [*manage, "runcapture"], command="runcapture"),
        Process("web", [*manage, "runweb", "--bind", bind or settings.BLUEPLANE_BIND, "--port", str(port)]),
        # Claude Code's OpenTelemetry export (BLUEPLANE_OTLP_BIND:BLUEPLANE_OTLP_PORT).
        Process("otlp", [*manage, "runotlp"], command="runotlp"),
        # Only on a machine connected to a team server (`blueplane connect`, docs/team.md).
        *([Process("forward", [*manage, "runforward"], command="runforward")] if _connected() else []),
    ]


def _connected() -> bool:
    return (Path(settings.BLUEPLANE_HOME) / TEAM_NAME).exists()


@dataclass
class Child:
    spec: Process
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = BACKOFF_MIN_S
    restart_at: float | None = None


@dataclass
class Supervisor:
    home: Path
    processes: list[Process]
    port: int
    out: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stop: threading.Event = field(default_factory=threading.Event)
    children: list[Child] = field(default_factory=list)
    redis: EmbeddedRedis | None = None
    redis_started: bool = False
    roles: tuple[str, ...] = ROLES
    _out_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, *, roles: tuple[str, ...] = ROLES) -> "Supervisor":
        processes = processes_default(port=settings.BLUEPLANE_PORT)
        return cls(
            home=settings.BLUEPLANE_HOME,
            processes=[p for p in processes if p.name in roles],
            port=settings.BLUEPLANE_PORT,
            roles=roles,
        )

    def run(self) -> int:
        """Run until SIGINT/SIGTERM. Returns the exit code (0 after a clean stop)."""
        pid_file_take(self.home)
        try:
            stale = leftovers_stop(self.home)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop.set())
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal must not stop a detached run
            self._redis_ensure()
            # A killed predecessor's Redis is still ours to stop: it was started by `up`, not by the user.
            self.redis_started = self.redis_started or bool(stale and stale.get("redis_started"))
            self._state_write(ready=False)  # from here on a killed supervisor leaves a record to clean up
            if not self.stop.is_set():
                if MIGRATING_ROLE in self.roles:
                    self._migrate()
                else:
                    from telemetry.store.schema import schema_wait

                    schema_wait(cancel=self.stop)
            for spec in self._runnable():
                if self.stop.is_set():
                    break
                child = Child(spec)
                self.children.append(child)
                self._spawn(child)
                self._state_write(ready=False)
            if not self.stop.is_set():
                self._state_write(ready=True)
                self._banner()
            while not self.stop.wait(0.5):
                self._tend()
            logger.info("stopping")
        finally:
            self._children_stop()
            redis_ours = self.redis is not None and (self.redis_started or self.redis.supervised())
            if redis_ours and self.redis.stop():
                logger.info("stopped embedded redis")
            state_path(self.home).unlink(missing_ok=True)
            pid_path(self.home).unlink(missing_ok=True)
        return 0

    def _redis_ensure(self) -> None:
        if settings.BLUEPLANE_REDIS_URL:
            from telemetry.selectors.system import redis_ok

            if not redis_ok():
                # The URL may hold a password: name the variable, not its value.
                raise SupervisorError("cannot reach the Redis at BLUEPLANE_REDIS_URL")
            logger.info("using the Redis at BLUEPLANE_REDIS_URL")
            return
        server = EmbeddedRedis(self.home)
        # A Redis that does not answer makes `up` wait, then fail in one line, leaving it as it is
        # (`down` stops it if a supervisor started it); Ctrl-C or `down` ends the wait.
        self.redis_started = server.start(wait_s=settings.REDIS_WAIT_S, supervised=True, cancel=self.stop)
        self.redis = server
        if self.redis_started:
            return
        if server.supervised():
            logger.info(
                "embedded redis (pid %s) was started by a supervisor: stopping it on stop", server.pid()
            )
        else:
            logger.info(
                "embedded redis already running on %s; leaving it running on stop", server.socket_path
            )

    def _migrate(self) -> None:
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", interactive=False, verbosity=0)  # ours: one host at a time (store/schema.py)
        connections.close_all()  # the children write; the supervisor holds no connection
        logger.info("database ready")

    def _runnable(self) -> list[Process]:
        from django.core.management import get_commands

        commands = get_commands()
        runnable = []
        for spec in self.processes:
            if spec.command and spec.command not in commands:
                logger.info("%s: command %r does not exist yet; not started", spec.name, spec.command)
                continue
            runnable.append(spec)
        return runnable

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["BLUEPLANE_HOME"] = str(self.home)  # children resolve the same home even when it was defaulted
        env["DJANGO_SETTINGS_MODULE"] = "blueplane.settings"
        env["PYTHONUNBUFFERED"] = "1"  # lines reach the log as they are written
        env[SUPERVISED_ENV] = str(os.getpid())  # a Redis a child has to start is ours to stop
        # Children run in the home, so the project must be importable from anywhere.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.BASE_DIR), env.get("PYTHONPATH")]))
        return env

    def _spawn(self, child: Child) -> None:
        popen = subprocess.Popen(
            child.spec.argv,
            cwd=self.home,
            env=self._child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        child.popen = popen
        child.started_at = time.monotonic()
        child.restart_at = None
        threading.Thread(target=self._pump, args=(child.spec.name, popen.stdout), daemon=True).start()
        logger.info("started %s (pid %d)", child.spec.name, popen.pid)

    def _pump(self, name: str, stream: BinaryIO) -> None:
        """Copy a child's output to ours, each line prefixed with the child's name."""
        prefix = f"{name:<8} | ".encode()
        for line in iter(stream.readline, b""):
            with self._out_lock, contextlib.suppress(OSError, ValueError):
                # Keep draining even when our output is gone, or the child blocks on a full pipe.
                self.out.write(prefix + line)
                self.out.flush()
        stream.close()

    def _tend(self) -> None:
        """Restart dead children once their backoff has passed."""
        now = time.monotonic()
        changed = False
        for child in self.children:
            if child.popen is not None and child.popen.poll() is not None:
                ran_s = now - child.started_at
                if child.popen.returncode == EXIT_NO_RESTART:
                    logger.warning(
                        "%s (pid %d) cannot run as configured (its own line above says why); not restarted",
                        child.spec.name,
                        child.popen.pid,
                    )
                    self._group_kill(child.popen.pid)
                    child.popen = None
                    changed = True
                    continue
                if ran_s >= STABLE_AFTER_S:
                    child.backoff_s = BACKOFF_MIN_S
                logger.warning(
                    "%s (pid %d) exited with code %s after %.0fs; restarting in %.0fs",
                    child.spec.name, child.popen.pid, child.popen.returncode, ran_s, child.backoff_s,
                )  # fmt: skip
                self._group_kill(child.popen.pid)  # leftovers, e.g. a dead worker's pool processes
                child.popen = None
                child.restart_at = now + child.backoff_s
                child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            elif child.popen is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                changed = True
        if changed:
            self._state_write(ready=True)

    def _children_stop(self) -> None:
        running = [c.popen for c in self.children if c.popen is not None and c.popen.poll() is None]
        for popen in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for popen in running:
            try:
                popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("pid %d did not stop within %.0fs; killing it", popen.pid, STOP_TIMEOUT_S)
                self._group_kill(popen.pid)
                popen.wait()
        for child in self.children:
            if child.popen is not None:
                self._group_kill(child.popen.pid)
                logger.info("stopped %s", child.spec.name)

    @staticmethod
    def _group_kill(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def _state_write(self, *, ready: bool) -> None:
        state = {
            "supervisor": os.getpid(),
            "ready": ready,
            "port": self.port,
            "redis": "external" if settings.BLUEPLANE_REDIS_URL else "embedded",
            "redis_started": self.redis_started,
            "roles": list(self.roles),
            "otlp": otlp_endpoint(),
            "processes": {
                c.spec.name: {
                    "pid": c.popen.pid if c.popen else None,
                    "restarts": c.restarts,
                    # Exited with EXIT_NO_RESTART: not coming back until the next `up`.
                    "given_up": c.popen is None and c.restart_at is None,
                }
                for c in self.children
            },
        }
        path = state_path(self.home)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)  # readers never see half a file

    def _banner(self) -> None:
        names = ", ".join(c.spec.name for c in self.children)
        with self._out_lock:
            print(f"\nBlueplane is running: {names}", flush=True)
            if "web" in self.roles:
                print(banner(port=self.port, home=self.home, bind=settings.BLUEPLANE_BIND), flush=True)
            else:
                print(f"  {'home':<10}{self.home}", flush=True)
            if any(c.spec.name == "otlp" for c in self.children):
                print(otlp_banner(), flush=True)
            print("Press Ctrl-C to stop.\n", flush=True)


# Addresses that mean "every interface" of one family, and the loopback address the banner shows for
# them (an IPv6 listener is IPv6-only: asyncio sets IPV6_V6ONLY).
BIND_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def url_of(host: str, port: int) -> str:
    """The base URL of host:port (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def otlp_banner() -> str:
    """The OTLP receiver's line: not a page to open (it takes POSTs only), so apart from banner()."""
    return (
        f"  {'otlp':<10}{otlp_endpoint()}  (Claude Code's OpenTelemetry export: "
        "blueplane install claude-code --otel)"
    )


def banner(*, port: int, home: Path, bind: str = "127.0.0.1") -> str:
    """Where to go once Blueplane runs, at the address the web server listens on (BLUEPLANE_BIND). Only
    URLs that answer today (tests/test_supervisor.py requests each one the banner prints)."""
    from api.v1.access import bind_address_is_loopback

    base = url_of(BIND_ANY.get(bind, bind), port)
    urls = (
        ("dashboard", "/", "open this: overview, sessions, tools, projects, pipeline; live"),
        ("admin", "/admin/", "create a user: blueplane manage createsuperuser"),
        ("api", "/api/v1/docs/", "the REST API, its endpoints tried in the browser"),
        ("health", "/healthz", "the pipeline's checks, as JSON (503 when one fails)"),
    )
    lines = [f"  {name:<10}{base}{path}  ({note})" for name, path, note in urls]
    if not bind_address_is_loopback(bind):
        note = (
            f"listening on {bind}: other hosts need an API token (blueplane token create NAME); "
            f"a browser opens {base}/?token=TOKEN once"
        )
        lines.append(f"  {'':<10}({note})")
    return "\n".join([*lines, f"  {'home':<10}{home}"])
