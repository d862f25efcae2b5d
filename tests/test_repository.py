"""The checkout itself: nothing half-merged is committed."""

from __future__ import annotations

import subprocess

from workflow_utils import REPO

MARKERS = ("<<<<<<< ", ">>>>>>> ")


def test_no_merge_conflict_markers() -> None:
    """A README once landed with a conflict's two sides; every text file git would commit is checked
    (tracked or not ignored: not the virtual environments, results or caches)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    found = []
    for name in filter(None, listed):
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{i}" for i, line in enumerate(lines, 1) if line.startswith(MARKERS)]
    assert not found, found


def test_report_captions_are_valid_restructuredtext() -> None:
    """Snakemake renders each caption with Jinja, then docutils; docutils only logs its errors
    (a stray |a - b| is read as an undefined substitution) and the report still builds, so the
    caption silently loses text. Jinja fields are replaced by a word before parsing."""
    import io
    import re

    import docutils.core

    problems = []
    for caption in sorted((REPO / "workflow" / "report").glob("*.rst")):
        text = re.sub(r"\{\{.*?\}\}", "X", caption.read_text(), flags=re.S)
        text = re.sub(r"\{%.*?%\}", "", text, flags=re.S)
        messages = io.StringIO()
        docutils.core.publish_doctree(
            text, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": messages}
        )
        if messages.getvalue():
            problems.append(f"{caption.name}: {messages.getvalue().strip()}")
    assert not problems, "\n".join(problems)
