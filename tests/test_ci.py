""".ci/: the dependency audit's report and the marking of tests that need no database."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / ".ci" / "pip_audit_report.py"
PIP_AUDIT_SAYS = "No known vulnerabilities found\n"


def audit_report(tmp_path: Path, deps: list[dict] | None, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    report, log = tmp_path / "pip-audit.json", tmp_path / "pip-audit.log"
    if deps is not None:
        report.write_text(json.dumps({"dependencies": deps, "fixes": []}))
    log.write_text(PIP_AUDIT_SAYS)
    proc = subprocess.run([sys.executable, str(REPORT), str(report), str(log), *args], capture_output=True,
                          text=True, timeout=60)
    return proc, log.read_text()


def skipped(name: str) -> dict:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}


def test_an_audit_of_nothing_says_so_in_the_log(tmp_path):
    proc, log = audit_report(tmp_path, [skipped("django"), skipped("torch")])
    assert proc.returncode == 0, proc.stderr
    assert "0 of 2 packages audited" in proc.stdout and "NOTHING WAS AUDITED" in proc.stdout
    # The log read on its own no longer passes for a clean audit: the verdict comes first.
    assert log.index("NOTHING WAS AUDITED") < log.index(PIP_AUDIT_SAYS.strip())


def test_an_audit_of_nothing_fails_when_strict(tmp_path):
    proc, _ = audit_report(tmp_path, [skipped("django")], "--strict")
    assert proc.returncode == 1


def test_a_partial_audit_names_what_was_not_audited(tmp_path):
    proc, log = audit_report(tmp_path, [{"name": "django", "version": "5.2.19", "vulns": []}, skipped("torch")])
    assert proc.returncode == 0
    assert "1 of 2 packages audited, 0 with known vulnerabilities" in log
    assert "not audited (1): torch" in log and "NOTHING WAS AUDITED" not in log


def test_a_known_vulnerability_fails_the_build(tmp_path):
    deps = [{"name": "django", "version": "5.2.0", "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.1"]}]}]
    proc, log = audit_report(tmp_path, deps)
    assert proc.returncode == 1
    assert "!! django 5.2.0: PYSEC-2025-1" in proc.stdout and "PYSEC-2025-1" in log


def test_an_audit_that_could_not_run_says_so(tmp_path):
    proc, log = audit_report(tmp_path, None, "--exit-code", "124")
    assert proc.returncode == 0
    assert "could not run (exit 124" in log and "NOTHING WAS AUDITED" in log
    proc, _ = audit_report(tmp_path, None, "--exit-code", "124", "--strict")
    assert proc.returncode == 1


@pytest.mark.slow
def test_tests_that_use_no_database_are_marked_nodb():
    """The PostgreSQL pass of .ci/test runs -m "not nodb": a test with a db fixture or marker, or marked
    ``services``, must stay in it; a pure test must leave it."""
    files = ["tests/test_ci.py", "tests/tutor/checking/test_checking.py", "tests/tutor/research/test_exports.py",
             "tests/load/test_load.py"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                           "-m", "not nodb", *files], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    kept = {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}
    # test_exports uses the db (module marker and fixtures); test_load reaches PostgreSQL through
    # DATABASE_URL and is marked services; the checker's and these tests touch nothing.
    assert kept == {"tests/tutor/research/test_exports.py", "tests/load/test_load.py"}


def test_browser_waits_pass_functions_not_expressions():
    """Playwright evaluates a bare expression given to ``wait_for_function`` with ``eval`` on every poll,
    which the app's CSP (no 'unsafe-eval') refuses; it passes only when the first check is already true.
    A function (``"() => ..."``) is compiled outside the page's CSP."""
    import re

    call = re.compile(r"wait_for_function\(\s*\"([^\"]*)\"", re.S)
    bare = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for match in call.finditer(path.read_text(encoding="utf-8")):
            if "=>" not in match.group(1) and not match.group(1).lstrip().startswith("function"):
                bare.append(f"{path.relative_to(REPO)}: {match.group(1)[:60]}")
    assert bare == []
