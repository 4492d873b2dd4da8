"""Settings read from the environment fail loudly on a value that cannot be right."""

import subprocess
import sys
from pathlib import Path

import pytest

from evalsite.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent


def test_booleans_accept_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_a_misspelled_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "ture")
    with pytest.raises(ImproperlyConfiguredEnv, match="DEBUG='ture' is not a boolean"):
        env_bool("DEBUG", False)


def test_an_integer_below_its_minimum_is_rejected(monkeypatch):
    monkeypatch.setenv("REVIEW_LEASE_MINUTES", "0")
    with pytest.raises(ImproperlyConfiguredEnv, match="REVIEW_LEASE_MINUTES=0 must be at least 1"):
        env_int("REVIEW_LEASE_MINUTES", 30, minimum=1)


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def _settings_in_subprocess(env: dict, expr: str) -> str:
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'evalsite.settings'; "
        f"from django.conf import settings; print({expr})"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_database_and_broker_urls_switch_to_postgres_and_redis(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "EVALSITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.internal:5433/evals",
        "CELERY_BROKER_URL": "redis://cache.internal:6379/3",
    }
    out = _settings_in_subprocess(
        env,
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'], settings.CELERY_BROKER_URL",
    )
    assert out == "django.db.backends.postgresql evals redis://cache.internal:6379/3"


def test_embedded_default_is_sqlite_and_a_broker_on_disk(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(tmp_path)}
    out = _settings_in_subprocess(
        env, "settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, settings.GLOBAL_API_BASE_URL"
    )
    assert out == "django.db.backends.sqlite3 filesystem:// https://global-apis.com/v1"
    assert (tmp_path / "broker" / "queue").is_dir()
    # The secret key is made on the machine, never taken from the repository.
    assert len((tmp_path / "secret_key").read_text()) >= 50


def test_a_weak_secret_key_stops_the_process_at_start_up(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(tmp_path), "SECRET_KEY": "changeme"}
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'evalsite.settings'; import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_the_tls_proxy_header_is_read_as_a_header_and_a_value(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "EVALSITE_VAR_DIR": str(tmp_path),
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    }
    assert _settings_in_subprocess(env, "settings.SECURE_PROXY_SSL_HEADER") == "('HTTP_X_FORWARDED_PROTO', 'https')"


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_secret_key_database_and_broker_under_var_are_owner_only(tmp_path):
    var = tmp_path / "var"
    env = {"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(var)}
    _settings_in_subprocess(env, "settings.SECRET_KEY and 'loaded'")
    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600
    assert mode(var / "db.sqlite3") == 0o600
    for sub in ("broker", "broker/queue", "broker/processed", "broker/control"):
        assert mode(var / sub) == 0o700, sub
    # A second process reads the key the first one made, and loosens nothing.
    key = (var / "secret_key").read_text()
    _settings_in_subprocess(env, "settings.SECRET_KEY and 'loaded'")
    assert (var / "secret_key").read_text() == key and mode(var / "secret_key") == 0o600


def test_a_var_directory_left_world_readable_by_an_older_version_is_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    _settings_in_subprocess({"PATH": "/usr/bin:/bin", "EVALSITE_VAR_DIR": str(var)}, "settings.VAR_DIR")
    assert mode(var) == 0o700


@pytest.mark.django_db
def test_the_demo_logins_file_is_readable_by_its_owner_only(settings, tmp_path, capsys):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    assert "password: " in capsys.readouterr().out
    assert mode(tmp_path / "demo-logins.txt") == 0o600
