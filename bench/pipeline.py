"""The harness bench/generation.py and bench/judging.py share: the real pipeline on a
throwaway database and broker, the simulated API, one real worker, and the figures printed.

The database and broker are SQLite and a filesystem broker in a temp dir, or, when
DATABASE_URL (postgres) and CELERY_BROKER_URL (redis) are set, a temporary PostgreSQL database
on that server and the given Redis. Unlike bench/scratch_database.py (an in-process test
database), the database here is a real one a worker process reaches through DATABASE_URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def setup_environment(tmp: Path, *, name: str = "bench") -> dict:
    """Point this process (and the worker) at a fresh database and broker."""
    env = {"EVALSITE_VAR_DIR": str(tmp), "LOG_LEVEL": "WARNING"}
    db_url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    info = {"database": "sqlite (temp dir)", "broker": "filesystem (temp dir)", "drop": None}
    if db_url.startswith("postgres"):
        import psycopg

        db_name = f"{name}_{uuid.uuid4().hex[:8]}"
        parts = urlsplit(db_url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{db_name}"))
        info.update(database=f"postgresql (temp db {db_name})", drop=(admin, db_name))
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    if broker.startswith("redis"):
        env["CELERY_BROKER_URL"] = broker
        info["broker"] = f"redis ({broker})"
    else:
        env["CELERY_BROKER_URL"] = "filesystem://"
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
    return info


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (children still running)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total


def start_worker(log: Path) -> subprocess.Popen:
    from evalsite.celery import worker_command  # after the caller has set the environment

    proc = subprocess.Popen(
        worker_command(pool="prefork", concurrency=2, loglevel="INFO"),
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    # Started = the pool processes have loaded the model client (worker_process_init) and the
    # sweep every worker runs when it starts is done: a worker in service has long done both,
    # and measuring them would time the worker's boot, not the engine.
    deadline = time.monotonic() + 60
    while True:
        text = log.read_text()
        pool_ready = text.count("pool process") >= 2
        swept = "generation_sweep_stuck" in text and "succeeded" in text
        if "ready." in text and pool_ready and swept:
            return proc
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"the worker did not start:\n{text[-3000:]}")
        time.sleep(0.1)


@contextlib.contextmanager
def pipeline(name: str, **simulator):
    """Django on a fresh database and broker, migrated and purged; the simulated API (configured
    with `simulator`) listed as an allowed host; one started worker. Yields (sim, worker, tmp)
    and removes everything afterwards, also on failure or Ctrl-C."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    info = setup_environment(tmp, name=name.replace("-", "_"))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from evalsite.celery import app
    from simulator import SimulatorConfig, SimulatorServer

    call_command("migrate", verbosity=0)
    try:
        app.control.purge()
    except Exception:  # noqa: BLE001 - an empty queue may have nothing to purge
        pass
    print(f"database: {info['database']}; broker: {info['broker']}; cores: {os.cpu_count()}")
    worker = None
    try:
        with SimulatorServer(SimulatorConfig(**simulator)) as sim:
            # Loopback is refused unless listed (arena/endpoints.py): the bench lists its own
            # simulator, for its campaigns here and for the worker through the environment.
            os.environ["LLM_ALLOWED_HOSTS"] = f"{sim.host}:{sim.port}"
            settings.LLM_ALLOWED_HOSTS = [f"{sim.host}:{sim.port}"]
            worker = start_worker(tmp / "worker.log")
            yield sim, worker, tmp
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        connection.close()
        if info["drop"]:
            import psycopg

            admin, db_name = info["drop"]
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def timed_run(sim, *, worker_pid: int, run: Callable[[], float], rows) -> dict:
    """One timed run: `run()` starts the work, waits until it is done and returns the wall
    seconds; the simulator's request times place the first and last call; `rows` (a queryset of
    the rows made) is counted by status."""
    from django.db.models import Count

    cpu_before = tree_cpu_seconds(worker_pid)
    t0 = time.time()
    wall = run()
    stats = sim.stats()
    times = sorted(stats["request_times"])
    return {
        "wall": wall,
        "first": times[0] - t0,
        "last": times[-1] - t0,
        "in_flight": stats["max_in_flight"],
        "statuses": dict(rows.values("status").annotate(n=Count("id")).values_list("status", "n")),
        "cpu": tree_cpu_seconds(worker_pid) - cpu_before,
        "load": os.getloadavg()[0],
    }


def print_runs(runs: list[dict], *, calls: int, ideal: float, latency: float, concurrency: int) -> float:
    """Each run's line, then the median wall time and the ideal (calls x latency / concurrency);
    returns the median."""
    for i, run in enumerate(runs, 1):
        print(
            f"run {i}: wall {run['wall']:5.2f} s = {run['wall'] / ideal:4.2f} x ideal | "
            f"first call at {run['first']:.2f} s, last at {run['last']:.2f} s | "
            f"in flight max {run['in_flight']} | {run['statuses']} | worker CPU {run['cpu']:.2f} s "
            f"({run['cpu'] / calls * 1000:.1f} ms/call) | load {run['load']:.2f}"
            + (f" | {run['note']}" if run.get("note") else "")
        )
    walls = sorted(run["wall"] for run in runs)
    wall = statistics.median(walls)
    print(f"pipeline wall time:   {wall:8.2f} s   (median of {len(walls)}; min {walls[0]:.2f}, max {walls[-1]:.2f})")
    print(f"ideal time:           {ideal:8.2f} s   ({calls} x {latency} s / {concurrency})")
    return wall


def print_ratio_to_ideal(runs: list[dict], *, ideal: float, target: float) -> None:
    walls = sorted(run["wall"] for run in runs)
    wall = statistics.median(walls)
    print(
        f"wall / ideal:         {wall / ideal:8.2f} x   (target <= {target:g}; "
        f"min {walls[0] / ideal:.2f}, max {walls[-1] / ideal:.2f})"
    )
