"""Shared fixtures: named users, the loopback model API, and a real Celery worker process.

Test names and fixtures follow one cast: `lead` (staff with campaign permissions), `reviewer`
(a member of the campaign), `outsider` (logged in, not a member).
"""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection, connections

from arena.models import Response
from evalsite.celery import worker_command
from evalsite.env import database_url_of
from simulator import SimulatorConfig, SimulatorServer
from tests.factories import llm_host_listed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_lead(django_user_model):
    def make(username="lead"):
        user = django_user_model.objects.create_user(username=username, password="lead-pass-123", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="arena"))
        return django_user_model.objects.get(pk=user.pk)  # drop the permission cache

    return make


@pytest.fixture
def lead(make_lead):
    return make_lead()


@pytest.fixture
def make_user(django_user_model):
    def make(username):
        return django_user_model.objects.create_user(username=username, password=f"{username}-pass-123")

    return make


@pytest.fixture
def reviewer(make_user):
    return make_user("rita")


@pytest.fixture
def outsider(make_user):
    return make_user("otto")


@pytest.fixture
def no_repeats(settings):
    """No repeat checks, so that a test can count the items a reviewer is served exactly
    (repeat checks have tests of their own)."""
    settings.REVIEW_REPEAT_SHARE = 0.0


@pytest.fixture
def expiry_on_every_next(settings):
    """Expire overdue leases on every "next", not at most every few seconds."""
    settings.REVIEW_EXPIRY_EVERY_SECONDS = 0


@pytest.fixture(scope="session")
def simulator():
    """The OpenAI-compatible test double on loopback, shared by the session; reset per test.

    Its address is on the endpoint allow-list (`factories.llm_host_listed`).
    """
    with SimulatorServer(SimulatorConfig(latency=0.0)) as server, llm_host_listed(f"{server.host}:{server.port}"):
        yield server


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.configure(**SimulatorConfig(latency=0.0).__dict__)
    yield simulator
    simulator.reset()


class WorkerProcess:
    """A real `celery -A evalsite worker` process on the test's database and broker."""

    def __init__(
        self,
        *,
        env_overrides: dict | None = None,
        concurrency: int = 2,
        pool: str = "prefork",
        name: str = "w1",
        log_dir: Path | None = None,
    ):
        self.env = os.environ.copy()
        self.env.update(
            {
                "DATABASE_URL": database_url_of(connection.settings_dict),
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                "EVALSITE_VAR_DIR": str(settings.VAR_DIR),
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "WARNING",
            }
        )
        self.env.update({k: str(v) for k, v in (env_overrides or {}).items()})
        self.concurrency = concurrency
        self.pool = pool
        self.name = name
        self.log_path = (log_dir or settings.VAR_DIR) / f"worker-{name}-{os.getpid()}.log"
        self.process: subprocess.Popen | None = None

    def start(self):
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            worker_command(
                pool=self.pool, concurrency=self.concurrency, loglevel="WARNING", hostname=f"{self.name}@%h"
            ),
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self):
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def close_log(self):
        if getattr(self, "log_file", None):
            self.log_file.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def purge_broker():
    from evalsite.celery import app

    try:
        app.control.purge()
    except Exception:  # noqa: BLE001 - an empty filesystem queue may have nothing to purge
        pass


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start real worker processes; they are killed (and their logs shown on failure) after the test.

    Killed, not stopped: the test has seen what it waits for, and a warm shutdown took 6-7 s per
    worker even when idle (the consumer loop notices the signal at its next 2 s poll, then the
    pool joins its children), about 100 s of every run of the suite.
    """
    purge_broker()
    workers: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        kwargs.setdefault("name", f"w{len(workers) + 1}")
        worker = WorkerProcess(log_dir=tmp_path, **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
        worker.close_log()
    purge_broker()


# Short timeouts and backoff for generation in the test process, so a failing call gives up in
# a fraction of a second; worker processes get theirs through environment variables instead.
FAST_LLM = {"LLM_REQUEST_TIMEOUT": 0.5, "LLM_BACKOFF_BASE": 0.01, "LLM_BACKOFF_MAX": 0.05}


@pytest.fixture
def eager():
    """Run enqueued tasks in the test process, synchronously, as they are sent."""
    from evalsite.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def wait_for_responses(campaign, *, status: str, at_least: int, timeout: float = 60):
    """Wait until at least `at_least` of the campaign's responses have `status`."""
    wait_until(
        lambda: Response.objects.filter(campaign=campaign, status=status).count() >= at_least,
        timeout=timeout,
        message=f"{at_least} responses {status}",
    )


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def run_in_parallel(work, users, *, timeout: float = 300) -> list[BaseException]:
    """Run `work(user, seed)` for every user (seed: the user's index) in a thread of its own,
    each with its own database connection, all released at once by one barrier. Returns what
    the threads raised; a thread still running after `timeout` seconds fails the test."""
    start = threading.Barrier(len(users))
    errors: list[BaseException] = []

    def run(user, seed):
        try:
            start.wait()
            work(user, seed)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(u, i)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return errors
