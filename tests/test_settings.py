import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_bool, env_float, env_secret


def test_env_bool_fails_loudly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False


def test_env_float_fails_loudly(monkeypatch):
    for bad in ("soon", "0", "-1", "1e9"):
        monkeypatch.setenv("TUTOR_LLM_FIRST_TOKEN_S", bad)
        with pytest.raises(ImproperlyConfigured, match="TUTOR_LLM_FIRST_TOKEN_S"):
            env_float("TUTOR_LLM_FIRST_TOKEN_S", 1.5, low=0.05, high=60.0)
    monkeypatch.setenv("TUTOR_LLM_FIRST_TOKEN_S", " 0.8 ")
    assert env_float("TUTOR_LLM_FIRST_TOKEN_S", 1.5, low=0.05, high=60.0) == 0.8
    monkeypatch.setenv("TUTOR_LLM_FIRST_TOKEN_S", "")
    assert env_float("TUTOR_LLM_FIRST_TOKEN_S", 1.5, low=0.05, high=60.0) == 1.5


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
    assert env_secret("MY_SECRET") == "from-a-file"


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
