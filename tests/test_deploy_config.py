"""docker-compose.yml cannot run here (no Docker engine), so validate what can be validated."""

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
