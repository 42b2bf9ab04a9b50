"""Where bench scripts put their figures: ``docs/results/NAME.md`` (a table a person reads) and
``docs/results/NAME.json`` (the same numbers for code), each stamped with the commit, the machine and
the date they were measured on."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def provenance() -> dict:
    """{commit (with +dirty when the tree has changes), machine, date (UTC)}."""
    root = RESULTS.parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    return {"commit": commit, "machine": machine,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_result(name: str, markdown: str, data: dict) -> Path:
    """Write ``docs/results/NAME.md`` (``markdown`` under a provenance line) and ``NAME.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    p = provenance()
    stamp = f"_Measured at commit {p['commit']} on {p['machine']}, {p['date']}._\n\n"
    (RESULTS / f"{name}.md").write_text(markdown.split("\n", 1)[0] + "\n\n" + stamp + markdown.split("\n", 1)[1].lstrip("\n"))
    (RESULTS / f"{name}.json").write_text(json.dumps({"provenance": p, **data}, indent=1) + "\n")
    return RESULTS / f"{name}.md"
