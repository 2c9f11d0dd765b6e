"""Time from pressing Send to the first streamed token in the browser (scripted backend).

Starts the real app under daphne on a scratch database, logs in as the demo student in Debian's
Chromium and sends ``--sends`` messages, timing each in the page (submit event -> first text of
the new tutor bubble, seen by a MutationObserver). Prints the median; ``--json OUT`` saves all.

    python -m tests.e2e.bench_first_token [--sends 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, COURSE_TITLE, STUDENT, TIMING_JS, server_start

WRONG = "12345"  # wrong for every demo item, so the tutor keeps replying
PER_CONNECTION = 6  # the consumer allows 8 messages per 10 s per connection: reconnect before that


def _open_session(page: Any) -> None:
    page.goto("/")
    card = page.locator("section.card", has=page.get_by_role("heading", name=COURSE_TITLE))
    card.get_by_role("button", name="Continue learning").click()
    page.wait_for_url("**/sessions/*/")
    page.wait_for_function("() => document.getElementById('conn').textContent === 'Connected.'")
    page.evaluate(TIMING_JS)


def _send_once(page: Any) -> dict[str, Any]:
    before = page.locator(".turn-tutor").count()
    page.fill("#message", WRONG)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function(
        "n => document.querySelectorAll('.turn-tutor').length > n && !document.querySelector('.turn-tutor.pending')",
        arg=before,
    )
    timing = page.evaluate("window.__timing")
    return {"ms": timing["t1"] - timing["t0"], "streamed": bool(timing["streamed"])}


def bench(sends: int, llm: str = "scripted") -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    server = server_start(llm=llm)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(base_url=server.url)
            page.set_default_timeout(15_000)
            page.goto("/accounts/login/")
            page.fill("#id_username", STUDENT[0])
            page.fill("#id_password", STUDENT[1])
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/")
            results: list[dict[str, Any]] = []
            on_connection = PER_CONNECTION
            # One warm-up send (first-use imports, the learner model's cache) is not counted.
            for i in range(sends + 1):
                if on_connection >= PER_CONNECTION or page.locator("#chat-form").count() == 0:
                    _open_session(page)  # a fresh connection, or the next item once this one is done
                    on_connection = 0
                result = _send_once(page)
                on_connection += 1
                if i > 0:
                    results.append(result)
            browser.close()
    finally:
        server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=10)
    parser.add_argument("--backend", default="scripted", help="TUTOR_LLM for the server (e.g. embedded)")
    parser.add_argument("--json", type=Path, help="write the timings to this file")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is not installed", file=sys.stderr)
        return 2
    results = bench(args.sends, args.backend)
    times = [r["ms"] for r in results]
    summary = {
        "backend": args.backend,
        "sends": len(times),
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "all_streamed": all(r["streamed"] for r in results),
        "samples_ms": [round(t, 1) for t in times],
    }
    print(
        f"send -> first streamed token ({args.backend} backend, {summary['sends']} sends): "
        f"median {summary['median_ms']:.1f} ms (min {summary['min_ms']:.1f}, max {summary['max_ms']:.1f})"
    )
    if not summary["all_streamed"]:
        print("warning: some replies showed no streamed token before the final text", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
