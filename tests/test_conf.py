import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from controlplane.conf import env_bool, env_choice, env_int, env_list, env_secret


def test_it_parses_booleans_and_rejects_garbage(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env_bool("FLAG")


def test_it_parses_integers_with_bounds(monkeypatch):
    monkeypatch.setenv("NUM", "12")
    assert env_int("NUM", 1) == 12
    monkeypatch.setenv("NUM", "twelve")
    with pytest.raises(ImproperlyConfigured, match="NUM must be an integer"):
        env_int("NUM", 1)
    monkeypatch.setenv("NUM", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("NUM", 1, minimum=0)


def test_it_parses_lists_and_choices(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, b.example ,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("BACKEND", "Celery")
    assert env_choice("BACKEND", ("local", "celery"), "local") == "celery"
    monkeypatch.setenv("BACKEND", "kafka")
    with pytest.raises(ImproperlyConfigured, match="one of local, celery"):
        env_choice("BACKEND", ("local", "celery"), "local")


def test_it_reads_secrets_from_a_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(secret_file))
    assert env_secret("TOKEN") == "from-file"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("TOKEN")


def _import_settings(env: dict) -> subprocess.CompletedProcess:
    code = "import controlplane.settings"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path)}
    result = _import_settings(env)
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
    assert _import_settings({**env, "DEBUG": "true"}).returncode == 0


def test_it_refuses_a_celery_backend_without_a_broker(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x",
        "EXECUTOR_BACKEND": "celery",
    }
    result = _import_settings(env)
    assert "needs CELERY_BROKER_URL" in result.stderr
    result = _import_settings({**env, "EXECUTOR_BACKEND": "threads"})
    assert "EXECUTOR_BACKEND must be one of" in result.stderr


def test_a_connection_pool_needs_postgresql_and_excludes_persistent_connections(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}
    assert "needs a PostgreSQL" in _import_settings({**env, "DB_POOL_SIZE": "4"}).stderr
    postgres = {**env, "DATABASE_URL": "postgres://u@localhost/db", "DB_POOL_SIZE": "4"}
    assert _import_settings(postgres).returncode == 0
    both = _import_settings({**postgres, "DB_CONN_MAX_AGE": "60"})
    assert "not both" in both.stderr


def _pool(env: dict):
    code = "import controlplane.settings as s; print(s.DATABASES['default'].get('OPTIONS'))"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_postgresql_connections_are_pooled_by_default(tmp_path):
    """Every process on PostgreSQL holds at most DB_POOL_SIZE connections unless told to keep
    one per thread (DB_CONN_MAX_AGE, for Celery workers); SQLite has no pool."""
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}
    postgres = {**env, "DATABASE_URL": "postgres://u@localhost/db"}
    assert "'max_size': 10" in _pool(postgres)
    assert "'max_size': 4" in _pool({**postgres, "DB_POOL_SIZE": "4"})
    assert "pool" not in _pool({**postgres, "DB_CONN_MAX_AGE": "60"})
    assert "pool" not in _pool({**postgres, "DB_POOL_SIZE": "0"})
    assert "pool" not in _pool(env)


def test_a_server_refuses_persistent_connections(tmp_path):
    """Under ASGI every request runs in a thread of its own: with DB_CONN_MAX_AGE each would
    leave its connection open, until PostgreSQL refuses more clients."""
    env = {
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x",
        "DATABASE_URL": "postgres://u@localhost/db",
    }
    code = "import controlplane.asgi"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DB_CONN_MAX_AGE": "60"},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "DB_CONN_MAX_AGE is for Celery workers" in run.stderr
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


@pytest.mark.parametrize("name", ["EVENT_API_MAX_BODY_BYTES", "EVENT_API_MAX_EVENT_BYTES"])
def test_the_event_api_caps_are_configurable(tmp_path, name):
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}
    code = f"import controlplane.settings as s; print(s.{name})"
    run = subprocess.run(
        [sys.executable, "-c", code], env={**env, name: "65536"}, capture_output=True, text=True
    )
    assert run.stdout.strip() == "65536"
    bad = _import_settings({**env, name: "3MB"})
    assert f"{name} must be an integer" in bad.stderr
