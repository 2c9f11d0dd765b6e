"""config/settings.py: every setting read through one strict, file-aware environment reader."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import Env

REPO = Path(__file__).resolve().parent.parent


def settings_in_subprocess(env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    """Load config.settings with exactly ``env`` (plus PATH) in a fresh interpreter and print ``names``
    as JSON (repr of each value)."""
    code = (
        "import json, sys; from django.conf import settings;"
        f"print(json.dumps({{n: repr(getattr(settings, n)) for n in {list(names)!r}}}))"
    )
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run([sys.executable, "-c", code], env=full, cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_a_boolean_that_is_neither_true_nor_false_fails_loudly(monkeypatch):
    env = Env()
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"X_FLAG='maybe' is not a boolean"):
        env.bool("X_FLAG", default=False)
    for word, value in (("off", False), ("NO", False), ("0", False), (" yes ", True), ("On", True), ("1", True)):
        monkeypatch.setenv("X_FLAG", word)
        assert env.bool("X_FLAG", default=not value) is value
    monkeypatch.setenv("X_FLAG", "")
    assert env.bool("X_FLAG", default=True) is True  # empty means unset


def test_a_number_that_is_not_a_number_fails_loudly(monkeypatch):
    env = Env()
    monkeypatch.setenv("X_SECONDS", "20s")  # django-environ alone would read this as 20.0
    with pytest.raises(ImproperlyConfigured, match=r"X_SECONDS='20s' is not a number"):
        env.float("X_SECONDS", default=1.0)
    monkeypatch.setenv("X_COUNT", "1e3")
    with pytest.raises(ImproperlyConfigured, match=r"X_COUNT='1e3' is not a whole number"):
        env.int("X_COUNT", default=1)


def test_lists_are_stripped(monkeypatch):
    monkeypatch.setenv("X_HOSTS", " a.org, b.org ,, ")
    assert Env().list("X_HOSTS", default=[]) == ["a.org", "b.org"]


def test_a_total_deadline_shorter_than_the_first_token_deadline_stops_start_up(tmp_path):
    env = {"TUTOR_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "TUTOR_LLM_FIRST_TOKEN_S": "3",
           "TUTOR_LLM_TOTAL_S": "2"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "TUTOR_LLM_TOTAL_S" in proc.stderr


def test_secret_from_file(monkeypatch, tmp_path):
    f = tmp_path / "s"
    f.write_text("from-a-file\n")
    monkeypatch.setenv("MY_SECRET_FILE", str(f))
    monkeypatch.setenv("MY_SECRET", "from-the-environment")
    assert Env().secret("MY_SECRET") == "from-a-file"  # the file wins, without its newline


def test_a_secret_starting_with_a_dollar_is_taken_as_written(monkeypatch):
    # django-environ alone reads "$NAME" as the value of NAME, here unset: the secret would become "".
    monkeypatch.setenv("MY_SECRET", "$3cr3t")
    assert Env().secret("MY_SECRET") == "$3cr3t"


def test_a_missing_secret_file_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_SECRET_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(ImproperlyConfigured, match=r"MY_SECRET_FILE: cannot read .*nowhere"):
        Env().secret("MY_SECRET")


def test_every_secret_comes_from_its_file(tmp_path):
    names = ("SECRET_KEY", "TUTOR_LLM_API_KEY", "RESEARCH_PSEUDONYM_SALT", "TUTOR_CONDITION_SALT")
    env = {"DEBUG": "0", "TUTOR_VAR_DIR": str(tmp_path)}
    for name in names:
        (tmp_path / name).write_text(f"{name.lower()}-from-its-file\n")
        env[f"{name}_FILE"] = str(tmp_path / name)
    proc = settings_in_subprocess(env, *names)
    assert proc.returncode == 0, proc.stderr
    values = json.loads(proc.stdout)
    assert values == {name: repr(f"{name.lower()}-from-its-file") for name in names}


def test_bad_debug_stops_start_up_with_a_clear_error(tmp_path):
    env = {"DEBUG": "maybe", "TUTOR_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "ImproperlyConfigured: DEBUG='maybe' is not a boolean (use 1/0, true/false, yes/no, on/off)" in proc.stderr


@pytest.mark.parametrize("env, message", [
    ({"TUTOR_LLM_FIRST_TOKEN_S": "0"}, "TUTOR_LLM_FIRST_TOKEN_S=0.0 must be between 0.05 and 60"),
    ({"TUTOR_LLM_TOTAL_S": "soon"}, "TUTOR_LLM_TOTAL_S='soon' is not a number"),
    ({"TUTOR_MAX_MESSAGE_CHARS": "lots"}, "TUTOR_MAX_MESSAGE_CHARS='lots' is not a whole number"),
    ({"TUTOR_LTI_READ_TIMEOUT": "15s"}, "TUTOR_LTI_READ_TIMEOUT='15s' is not a number"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' must be one of: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ({"DATABASE_URL": "mongodb://db/tutor"}, "DATABASE_URL: "),
])
def test_bad_values_stop_start_up_naming_the_setting(tmp_path, env, message):
    proc = settings_in_subprocess({"TUTOR_VAR_DIR": str(tmp_path), **env}, "DEBUG")
    assert proc.returncode != 0
    assert message in proc.stderr


def test_defaults_are_the_embedded_set_up(tmp_path):
    proc = settings_in_subprocess({"TUTOR_VAR_DIR": str(tmp_path)}, "DEBUG", "DATABASES", "CHANNEL_LAYERS",
                                  "TUTOR_LLM", "TUTOR_LLM_BACKENDS", "TUTOR_MODEL_CACHE", "TUTOR_LLM_FIRST_TOKEN_S",
                                  "TUTOR_LLM_TOTAL_S")
    assert proc.returncode == 0, proc.stderr
    values = json.loads(proc.stdout)
    assert values["DEBUG"] == "True"
    assert f"'NAME': '{tmp_path / 'tutor.sqlite3'}'" in values["DATABASES"]
    assert "InMemoryChannelLayer" in values["CHANNEL_LAYERS"]
    assert values["TUTOR_LLM"] == "'embedded'" and values["TUTOR_LLM_BACKENDS"] == "[]"
    assert values["TUTOR_MODEL_CACHE"] == repr(tmp_path / "model-cache")
    assert values["TUTOR_LLM_FIRST_TOKEN_S"] == "1.5" and values["TUTOR_LLM_TOTAL_S"] == "6.0"


def test_production_settings_pass_check_deploy(tmp_path):
    env = {"DEBUG": "0", "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
           "ALLOWED_HOSTS": "tutor.example.org", "TUTOR_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_production_refuses_to_start_without_secret(tmp_path):
    env = {"DEBUG": "0", "TUTOR_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "SECRET_KEY" in proc.stderr


def test_one_log_record_is_written_once(tmp_path):
    """Django's default "django" logger has a console handler of its own; with the root's, runserver's
    lines ("django.channels.server") and request errors came out twice."""
    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('django.channels.server').info('marker-server');"
        "logging.getLogger('django.request').warning('marker-request');"
        "logging.getLogger('tutor.engine').warning('marker-tutor');"
        "logging.getLogger('django.server').info('marker-runserver')"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "config.settings",
           "TUTOR_VAR_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    for marker in ("marker-server", "marker-request", "marker-tutor", "marker-runserver"):
        assert sum(marker in line for line in lines) == 1, proc.stderr


def test_phrasing_is_full_unless_set_and_an_unknown_value_stops_start_up(tmp_path):
    default = settings_in_subprocess({"TUTOR_VAR_DIR": str(tmp_path)}, "TUTOR_LLM_PHRASING")
    assert json.loads(default.stdout.strip().splitlines()[-1]) == {"TUTOR_LLM_PHRASING": "'full'"}, default.stderr
    chosen = settings_in_subprocess({"TUTOR_VAR_DIR": str(tmp_path), "TUTOR_LLM_PHRASING": "lead-in"},
                                    "TUTOR_LLM_PHRASING")
    assert "'lead-in'" in chosen.stdout
    wrong = settings_in_subprocess({"TUTOR_VAR_DIR": str(tmp_path), "TUTOR_LLM_PHRASING": "auto"}, "TUTOR_LLM_PHRASING")
    assert wrong.returncode != 0 and "TUTOR_LLM_PHRASING" in wrong.stderr
