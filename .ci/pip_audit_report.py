"""Read pip-audit's JSON report and say plainly what was and was not audited.

pip-audit ends its log with "No known vulnerabilities found" even when its vulnerability service knew
none of the installed versions and so audited nothing. This report counts the packages really
audited, lists the vulnerable ones, and writes its verdict at the top of the log as well as to stdout,
so neither can be read as a clean audit that did not happen.

    python .ci/pip_audit_report.py REPORT.json LOG [--exit-code N] [--strict]

Exit status: 1 when a package has a known vulnerability; with --strict also when pip-audit could not
run or audited nothing; else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def verdict(report_path: Path, pip_audit_rc: int) -> tuple[list[str], bool, bool]:
    """The report's lines, whether a vulnerability was found, and whether anything was audited."""
    try:
        deps = json.loads(report_path.read_text())["dependencies"]
    except (OSError, ValueError, KeyError, TypeError):
        return ([f"!! pip-audit could not run (exit {pip_audit_rc}; network?): NOTHING WAS AUDITED"], False, False)
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = [d for d in deps if not d.get("skip_reason")]
    lines = [f"!! {d['name']} {d.get('version', '?')}: {', '.join(v['id'] for v in d['vulns'])}" for d in vulnerable]
    lines.append(f"pip-audit: {len(audited)} of {len(deps)} packages audited, "
                 f"{len(vulnerable)} with known vulnerabilities")
    if not audited:
        lines.append("!! NOTHING WAS AUDITED: the vulnerability service knows none of the installed versions "
                     "(or could not be reached), so 'No known vulnerabilities found' below means nothing")
    elif len(audited) < len(deps):
        skipped = sorted(d["name"] for d in deps if d.get("skip_reason"))
        lines.append(f"   not audited ({len(skipped)}): {', '.join(skipped)}")
    return lines, bool(vulnerable), bool(audited)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="pip-audit's JSON output (-f json -o REPORT)")
    parser.add_argument("log", type=Path, help="pip-audit's log (its stderr); the verdict is written at its top")
    parser.add_argument("--exit-code", type=int, default=0, help="pip-audit's own exit status")
    parser.add_argument("--strict", action="store_true", help="also fail when nothing could be audited")
    args = parser.parse_args(argv)

    lines, vulnerable, audited = verdict(args.report, args.exit_code)
    print("\n".join(lines))
    try:
        original = args.log.read_text()
    except OSError:
        original = ""
    args.log.write_text("\n".join(["== .ci/test's verdict ==", *lines, "", "== pip-audit's own output ==", original]))
    return 1 if vulnerable or (args.strict and not audited) else 0


if __name__ == "__main__":
    sys.exit(main())
