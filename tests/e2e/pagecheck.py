"""One check for every page a browser test visits: no script error or CSP violation, no sideways
scrolling on a phone, no serious or critical accessibility violation (axe-core, from npm), and a
screenshot kept as a test artefact.

Use it on a page from the ``page`` (1280x800) or ``mobile_page`` (390x844) fixtures, after the page
has loaded::

    from tests.e2e.pagecheck import page_check
    page.goto("/teach/")
    page_check(page, "teacher-home")

The screenshot goes to ``test-artifacts/screenshots/<name>-<desktop|mobile>.png``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.server import ROOT

AXE = ROOT / "static" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Impact levels that fail a page. "moderate" and "minor" are reported but do not fail it.
FAILING_IMPACTS = ("serious", "critical")


def _size(page: Any) -> str:
    viewport = page.viewport_size or {"width": 1280}
    return "mobile" if viewport["width"] < 600 else "desktop"


def overflow_x(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def axe_violations(page: Any, impacts: tuple[str, ...] = FAILING_IMPACTS) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts on the page as it is now."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `npm ci --prefix static` (axe-core is a devDependency)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, so the page's Content-Security-Policy does not apply
        # (``add_script_tag`` inserts an inline <script>, which the policy blocks).
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
    )
    return [v for v in result if v.get("impact") in impacts]


def page_check(page: Any, name: str, *, axe: bool = True, screenshot: bool = True) -> None:
    """Fail on script errors and CSP violations seen so far, sideways overflow on a phone-sized window
    and serious or critical axe violations; save a full-page screenshot."""
    size = _size(page)
    page.wait_for_load_state("load")
    if screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    problems: list[str] = []
    errors = list(dict.fromkeys([*getattr(page, "js_errors", []), *getattr(page, "console_errors", [])]))
    if errors:
        problems.append("script errors or CSP violations: " + "; ".join(errors[:5]))
    if size == "mobile":
        wider = overflow_x(page)
        if wider > 0:
            problems.append(f"the page scrolls sideways by {wider}px at {page.viewport_size['width']}px wide")
    if axe:
        violations = axe_violations(page)
        if violations:
            problems.append("accessibility (axe-core): " + json.dumps(violations, indent=1)[:3000])
    assert not problems, f"{name} ({size}): " + "\n".join(problems)
