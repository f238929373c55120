#!/usr/bin/env python3
"""Audit the installed dependencies for known vulnerabilities with pip-audit.

Fails (exit 1) when a dependency has a known vulnerability. When the advisory database
cannot be reached (offline, or a package index without PyPI's JSON API), pip-audit skips
every package and would still print "No known vulnerabilities found": this step says
loudly that nothing was audited instead, and does not fail the run (AUDIT_STRICT=1 makes
that a failure too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BANNER = "!" * 78


def run_pip_audit() -> tuple[int, str, str]:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    done = subprocess.run([str(pip_audit), "--skip-editable", "--progress-spinner", "off",
                           "--format", "json"], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


def verdict(output: str, stderr: str) -> tuple[int, list[str]]:
    """(exit code, lines to print) from pip-audit's JSON report."""
    try:
        report: dict[str, Any] = json.loads(output)
    except json.JSONDecodeError:
        return _unaudited(f"pip-audit gave no report: {stderr.strip()[-500:]}")
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    if vulnerable:
        lines = [f"{d['name']} {d.get('version', '')}: " + ", ".join(
            f"{v['id']} (fixed in {', '.join(v.get('fix_versions') or ['nothing yet'])})"
            for v in d["vulns"]) for d in vulnerable]
        return 1, ["KNOWN VULNERABILITIES in installed dependencies:", *lines]
    if deps and audited == 0:
        return _unaudited(f"all {len(deps)} dependencies were skipped, e.g. "
                          f"{skipped[0]['skip_reason']}")
    notes = [f"dependency audit: {audited} packages audited, no known vulnerabilities"]
    if skipped:
        notes.append(f"  ({len(skipped)} not audited: "
                     f"{', '.join(d['name'] for d in skipped[:10])})")
    return 0, notes


def _unaudited(reason: str) -> tuple[int, list[str]]:
    strict = os.environ.get("AUDIT_STRICT", "").lower() in ("1", "true", "yes")
    return (1 if strict else 0), [
        BANNER, "DEPENDENCY AUDIT DID NOT RUN: the vulnerability database is not reachable.",
        reason, "Nothing was audited. Run `.ci/audit_dependencies.py` where PyPI's JSON API "
        "is reachable (AUDIT_STRICT=1 fails instead).", BANNER]


def main() -> int:
    code, lines = verdict(*run_pip_audit()[1:])
    for line in lines:
        print(line, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
