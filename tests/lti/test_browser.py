"""A learner launches the tutor from an LMS page, inside its iframe, in Debian's Chromium.

Both sides run over HTTPS (a certificate made for the test) on different sites: the LMS at
https://localhost:…, the tutor (the real ASGI app under uvicorn) at https://127.0.0.1:…. Inside the
frame every request to the tutor is a cross-site one, so this passes only if the login state cookie,
the session and CSRF cookies are ``SameSite=None; Secure`` and the tutor's pages allow the LMS (and
only the LMS) as a frame ancestor. The learner then answers in the chat over the websocket.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, server_env
from tests.lti.platform import LEARNER, LaunchSpec, Platform, User

pytestmark = pytest.mark.e2e

SEED = """
import copy
from content import packs
from tests.conftest import SMALL_PACK
from lti_tool.models import LtiDeployment, LtiRegistration
from tutor.lti.models import PlatformSettings
packs.import_pack(copy.deepcopy(SMALL_PACK))
r = LtiRegistration.objects.create(name="LMS", issuer="{issuer}", client_id="{client_id}",
    auth_url="{platform}/auth", token_url="{platform}/token", keyset_url="{platform}/jwks",
    uuid="6b8f9d9e-3c55-4a4e-9a59-3d1b2f0c7a11")
LtiDeployment.objects.create(registration=r, deployment_id="{deployment_id}", is_active=True)
"""
REGISTRATION_UUID = "6b8f9d9e-3c55-4a4e-9a59-3d1b2f0c7a11"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tutor-lti-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def lms() -> Iterator[dict[str, Any]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser tests need it")
    with tempfile.TemporaryDirectory(prefix="tutor-lti-e2e-") as tmp:
        folder = Path(tmp)
        cert, key = _certificate(folder)
        platform = Platform(host="localhost", ssl_context=(str(cert), str(key))).start()
        evil = Platform(host="localhost", ssl_context=(str(cert), str(key))).start()  # an unregistered site
        env = server_env(folder)
        env["REQUESTS_CA_BUNDLE"] = str(cert)  # the tutor fetches the LMS's key set over this HTTPS
        seed = SEED.format(issuer=platform.issuer, client_id=platform.client_id, platform=platform.url,
                           deployment_id=platform.deployment_id)
        for args in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", seed]):
            subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
        port = _free_port()
        tool = f"https://127.0.0.1:{port}"
        log_path = folder / "uvicorn.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.e2e.asgi_static:application", "--host", "127.0.0.1",
                 "--port", str(port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert), "--log-level",
                 "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{tool}/lti/jwks/", verify=str(cert), timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.2)
            platform.tool_set(login=f"{tool}/lti/login/{REGISTRATION_UUID}/", launch=f"{tool}/lti/launch/",
                              jwks=f"{tool}/lti/jwks/")
            platform.link_add("link-1", title="Fractions", custom={"tutor_target": "course:mini"})
            yield {"platform": platform, "evil": evil, "tool": tool, "log": log_path}
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            platform.stop()
            evil.stop()


@pytest.fixture
def chromium(lms: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(15_000)
        yield context
        try:
            context.close()
        finally:
            browser.close()


def test_a_learner_launches_into_the_chat_inside_the_lms_iframe(lms: dict[str, Any], chromium: Any) -> None:
    platform, tool = lms["platform"], lms["tool"]
    page = chromium.new_page()
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    headers: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: headers.setdefault(r.url, r.headers) if r.url.startswith(tool) else None)

    login = platform.launch_url(LaunchSpec(User("lms-ada", "Ada Lovelace", LEARNER, "ada@school.example")))
    page.goto(f"{platform.url}/frame?src={requests.utils.quote(login, safe='')}")
    frame = page.frame_locator("#tool")
    frame.locator("#message").wait_for()  # the chat page of the planner's first item, in the frame
    tool_frame = next(f for f in page.frames if f.url.startswith(tool))
    assert "/sessions/" in tool_frame.url, lms["log"].read_text(errors="replace")[-3000:]

    # The session page allows exactly the LMS as its frame ancestor.
    csp = headers[tool_frame.url]["content-security-policy"]
    assert f"frame-ancestors {platform.url}" in csp and "frame-ancestors *" not in csp
    assert "x-frame-options" not in headers[tool_frame.url]
    cookies = {c["name"]: c for c in chromium.cookies(tool)}
    for name in ("sessionid", "csrftoken"):  # partitioned: this Chromium blocks other third-party cookies
        assert cookies[name]["sameSite"] == "None" and cookies[name]["secure"], cookies[name]
        assert cookies[name].get("partitionKey") == platform.url.rsplit(":", 1)[0], cookies[name]

    # The chat works inside the frame: the websocket carries the session cookie cross-site.
    tool_frame.wait_for_function("() => document.getElementById('conn').textContent === 'Connected.'")
    before = tool_frame.locator(".turn-tutor").count()
    tool_frame.fill("#message", "3/4")
    tool_frame.get_by_role("button", name="Send", exact=True).click()
    tool_frame.wait_for_function(
        "n => document.querySelectorAll('.turn-tutor').length > n && !document.querySelector('.turn-tutor.pending')",
        arg=before)
    assert tool_frame.locator(".turn-student").last.inner_text().strip().endswith("3/4")
    assert not blocked, blocked

    # Another site may not frame the same page.
    other = chromium.new_page()
    refused: list[str] = []
    other.on("console", lambda msg: refused.append(msg.text) if "frame-ancestors" in msg.text else None)
    other.goto(f"{lms['evil'].url}/frame?src={requests.utils.quote(tool_frame.url, safe='')}")
    other.wait_for_timeout(1500)
    assert refused and all(f.locator("#message").count() == 0 for f in other.frames)
