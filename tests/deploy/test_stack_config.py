"""deploy/stack.py without starting anything: settings, and the nginx and supervisor configurations it
writes (checked by nginx itself where it is installed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.deploy import services
from tests.load import driver


@pytest.fixture
def stack(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("deploy_stack", driver.ROOT / "deploy" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "deploy_stack", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    for name in ("TUTOR_DEPLOY_WORKERS", "TUTOR_DEPLOY_HTTPS_PORT", "TUTOR_DEPLOY_WEB_PORT", "TUTOR_DEPLOY_JOBS",
                 "TUTOR_LLM", "TUTOR_LLM_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TUTOR_DEPLOY_DIR", str(tmp_path / "state"))
    return module


@pytest.mark.parametrize(("name", "value", "message"), [
    ("TUTOR_DEPLOY_WORKERS", "four", "is not a whole number"),
    ("TUTOR_DEPLOY_WORKERS", "0", "out of range"),
    ("TUTOR_DEPLOY_HTTPS_PORT", "8102", "collides with the workers' ports"),
    ("TUTOR_DEPLOY_JOBS", "yes", "use 1"),
])
def test_bad_settings_are_refused_with_a_reason(stack, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(stack.StackError, match=message):
        stack.settings_from_env()


def test_bad_settings_reach_the_operator_as_one_line(stack, monkeypatch, capsys):
    monkeypatch.setenv("TUTOR_DEPLOY_WORKERS", "-3")
    assert stack.main(["up"]) == 1
    assert capsys.readouterr().err.strip() == "deploy/run up: TUTOR_DEPLOY_WORKERS=-3 is out of range (1 to 64)"
    assert stack.main(["sideways"]) == 2


def test_nginx_config_spreads_over_every_worker_and_passes_the_client(stack, monkeypatch):
    monkeypatch.setenv("TUTOR_DEPLOY_WORKERS", "3")
    s = stack.settings_from_env()
    conf = stack.nginx_conf(s)
    assert [line.split()[1] for line in conf.splitlines() if line.strip().startswith("server 127.0.0.1:")] == [
        "127.0.0.1:8101", "127.0.0.1:8102", "127.0.0.1:8103"]
    assert "{{" not in conf and f"alias {s.static}/;" in conf
    # proxy_set_header is not inherited into a location that sets its own: both list the client headers.
    for location in ("location /ws/", "location / "):
        block = conf.split(location, 1)[1].split("}", 1)[0]
        for header in ("Host $http_host", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme",
                       "X-Request-ID $request_id"):
            assert f"proxy_set_header {header};" in block, (location, header)
    assert "proxy_set_header Upgrade $http_upgrade;" in conf.split("location /ws/", 1)[1].split("}", 1)[0]


def test_supervisor_runs_each_worker_and_the_app_trusts_only_the_proxy(stack, monkeypatch):
    monkeypatch.setenv("TUTOR_DEPLOY_WORKERS", "2")
    monkeypatch.setenv("TUTOR_DEPLOY_JOBS", "0")
    s = stack.settings_from_env()
    conf = stack.supervisord_conf(s)
    assert "programs=web-1,web-2" in conf and "[program:web-3]" not in conf
    commands = [line for line in conf.splitlines() if line.startswith("command=") and "uvicorn" in line]
    assert len(commands) == 2
    # The app, not uvicorn, decides which X-Forwarded-For to believe (TRUSTED_PROXIES, the proxy).
    assert all("--no-proxy-headers " in c and "--forwarded-allow-ips" not in c for c in commands)
    assert "--port 8101 " in commands[0] and "--port 8102 " in commands[1]
    assert "-m celery -A tutor.jobs worker" in conf and "autostart=false" in conf
    has_model_server = importlib.util.find_spec("tutor.llm.model_server") is not None
    assert ("\n[program:model-server]\n" in conf) == has_model_server
    if has_model_server:
        section = conf.split("[program:model-server]", 1)[1].split("\n\n", 1)[0]
        assert "-m tutor.llm.model_server serve --host 127.0.0.1 --port 8090" in section
        # Started with the stack only when the web workers use it (TUTOR_LLM=embedded, the default).
        assert "autostart=true" in section
        monkeypatch.setenv("TUTOR_LLM", "scripted")
        scripted = stack.supervisord_conf(stack.settings_from_env())
        assert "autostart=false" in scripted.split("[program:model-server]", 1)[1].split("\n\n", 1)[0]
        monkeypatch.setenv("TUTOR_LLM_SERVER_URL", "http://model.example:8090/v1")
        with pytest.raises(stack.StackError, match="model server listens on"):
            stack.supervisord_conf(stack.settings_from_env())


def test_a_template_placeholder_without_a_value_is_an_error(stack):
    with pytest.raises(stack.StackError, match="no value for"):
        stack._render("nginx.conf.template", run="/x")


def test_app_environment_is_production(stack, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-shell")
    s = stack.settings_from_env()
    env = stack.app_env(s)
    assert env["DEBUG"] == "0" and "SECRET_KEY" not in env and env["LOG_FORMAT"] == "json"
    key = s.state / "secret_key"
    assert env["SECRET_KEY_FILE"] == str(key) and oct(key.stat().st_mode & 0o777) == "0o600"
    assert stack.app_env(s)["SECRET_KEY_FILE"] == str(key) and len(key.read_text().strip()) > 40
    assert env["CSRF_TRUSTED_ORIGINS"] == "https://127.0.0.1:8443,https://localhost:8443"
    assert env["TRUSTED_PROXIES"] == "127.0.0.1"


def test_nginx_accepts_the_rendered_configuration(stack, monkeypatch):
    services.tools("nginx", "openssl")
    s = stack.settings_from_env()
    for path in (s.run, s.logs, s.static, s.state / "nginx-tmp"):
        path.mkdir(parents=True, exist_ok=True)
    assert stack.certificate_ensure(s) is True and stack.certificate_ensure(s) is False
    subject = subprocess.run(["openssl", "x509", "-in", str(s.tls / "cert.pem"), "-noout", "-ext", "subjectAltName"],
                             capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in subject and "DNS:localhost" in subject
    (s.state / "nginx.conf").write_text(stack.nginx_conf(s))
    test = subprocess.run([stack.NGINX, "-t", "-p", str(s.state), "-c", str(s.state / "nginx.conf")],
                          capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
