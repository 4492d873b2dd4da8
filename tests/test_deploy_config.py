"""docker-compose.yml cannot run here (no Docker engine), so validate what can be validated."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_web_worker_beat_postgres_and_redis_with_health_checks():
    services = load_compose()["services"]
    assert set(services) == {"web", "worker", "beat", "db", "redis"}
    for name in ("web", "worker", "db", "redis"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "pgdata" in load_compose()["volumes"]


def test_compose_runs_the_same_app_entry_points_as_the_makefile_and_procfile():
    services = load_compose()["services"]
    web = " ".join(services["web"]["command"])
    assert "gunicorn evalsite.wsgi" in web
    assert "manage.py migrate" in web
    assert services["worker"]["command"][:4] == ["celery", "-A", "evalsite", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "evalsite", "beat"]
    procfile = (ROOT / "Procfile.dev").read_text()
    assert "celery -A evalsite worker" in procfile
    assert "celery -A evalsite beat" in procfile
    assert "Procfile.dev" in (ROOT / "Makefile").read_text()


def test_compose_takes_secrets_from_the_environment_only():
    app_env = load_compose()["services"]["web"]["environment"]
    assert app_env["SECRET_KEY"].startswith("${SECRET_KEY")
    assert app_env["GLOBAL_API_KEY"].startswith("${GLOBAL_API_KEY")
    assert app_env["DATABASE_URL"].startswith("postgres://")
    assert app_env["CELERY_BROKER_URL"].startswith("redis://")


def test_gunicorn_runs_threaded_workers_with_the_heartbeat_in_memory_everywhere():
    """One gunicorn configuration (gunicorn.conf.py, read from the working directory) for the
    image, the compose file and bench/review_load.py: the one the benchmark measured."""
    from gunicorn.config import Config

    config = Config()
    namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    for name in ("worker_class", "workers", "threads", "keepalive", "worker_tmp_dir", "accesslog", "bind"):
        config.set(name, namespace[name])
    assert config.worker_class_str == "gthread" and config.threads >= 2 and config.workers >= 2
    assert config.worker_tmp_dir == ("/dev/shm" if Path("/dev/shm").is_dir() else None)
    # Nothing on a command line overrides the worker model or the counts.
    web = " ".join(load_compose()["services"]["web"]["command"])
    image = (ROOT / "Dockerfile").read_text().split("CMD", 1)[1]
    for command in (web, image):
        for option in ("--workers", "-w ", "--worker-class", "-k ", "--threads", "--worker-tmp-dir"):
            assert option not in command, (option, command)


def test_the_wsgi_module_loads_the_urlconf_before_the_first_request(tmp_path):
    """gunicorn imports evalsite.wsgi in each worker before it accepts connections; the URLconf
    (and the view modules it imports, ~0.5 s) must be loaded then, not by a reviewer's request."""
    code = "import sys, evalsite.wsgi; print('arena.api.review' in sys.modules, 'evalsite.urls' in sys.modules)"
    env = {**os.environ, "EVALSITE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "evalsite.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
