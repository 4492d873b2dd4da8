"""docker-compose.yml cannot run here (no Docker engine), so validate what can be validated."""

import os
import re
import runpy
import secrets
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


def test_each_web_worker_freezes_what_it_loaded_at_start(tmp_path):
    """gunicorn's post_worker_init hook (gunicorn.conf.py) runs after the worker imported the
    app: everything loaded by then leaves the collector's generations (docs/BENCHMARKS.md, the
    52-89 ms pauses of a full collection)."""
    code = (
        "import gc, runpy, evalsite.wsgi; before = gc.get_freeze_count(); "
        "runpy.run_path('gunicorn.conf.py')['post_worker_init'](None); "
        "print(before, gc.get_freeze_count(), len(gc.get_objects()))"
    )
    env = {**os.environ, "EVALSITE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "evalsite.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, frozen, left = (int(x) for x in done.stdout.split())
    assert before == 0 and frozen > 50_000 and left < frozen / 10, (before, frozen, left)


def compose_environment(**given: str) -> dict:
    """The web service's environment as docker compose would resolve it, with `given` as the
    operator's .env file: `${NAME:-default}` takes the default unless NAME is given, and
    `${NAME:?message}` must be given."""
    resolved = {}
    for name, value in load_compose()["services"]["web"]["environment"].items():

        def substitute(match):
            var, op, rest = match.group(1), match.group(2), match.group(3)
            if var in given:
                return given[var]
            assert op == ":-", f"{var} must be given ({rest})"
            return rest

        resolved[name] = re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", substitute, str(value))
    return resolved


def test_compose_turns_on_https_hsts_secure_cookies_and_the_proxy_header():
    env = compose_environment(SECRET_KEY="x" * 50, POSTGRES_PASSWORD="pw")
    assert env["DEBUG"] == "false"
    assert env["SECURE_SSL_REDIRECT"] == "true"
    assert int(env["SECURE_HSTS_SECONDS"]) >= 31536000
    assert env["SESSION_COOKIE_SECURE"] == env["CSRF_COOKIE_SECURE"] == "true"
    assert env["SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"


def test_production_settings_pass_check_deploy_without_a_warning(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "EVALSITE_VAR_DIR": str(tmp_path),
        **compose_environment(
            SECRET_KEY=secrets.token_urlsafe(50), POSTGRES_PASSWORD="unused-by-check", ALLOWED_HOSTS="evals.example.com"
        ),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    # Every check is silent: the security ones, and drf-spectacular's about the API schema.
    assert re.findall(r"^\?: \((\S+?)\) (.*)$", output, flags=re.M) == [], output
    assert "System check identified no issues" in output, output
    assert done.returncode == 0, output


def test_every_page_is_served_with_a_content_security_policy_that_forbids_inline_code(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["object-src"] == directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_template_has_an_inline_script_style_or_event_handler():
    """What the policy would block: each of these must be a file under static/ instead."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "templates").rglob("*.html")
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []
