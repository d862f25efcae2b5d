"""User-facing errors: one clear line that names the record and the problem.

Library code raises `InputError` for anything wrong with the user's data or
configuration, and `WriteError` (a subclass) when an output finds no room on
disk; entry points (the CLI through `exit_on_input_error`, Snakemake scripts
through `runner.run`) print that single line instead of a traceback and exit 1.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence


class InputError(ValueError):
    """Bad user input (FASTA, TSV, config, bundle); the message is the whole story."""


class WriteError(InputError):
    """An output could not be written for lack of room (full disk, quota, file size limit).

    Not the user's input, but the same contract: one line naming the path, exit
    status 1, nothing half-written left behind. A subclass, so that every entry
    point that prints an `InputError` as one line prints this too.
    """


def listed(items: Sequence[object], show: int = 5, sep: str = ", ") -> str:
    """The first `show` items, then '... (+k)': long lists in one-line messages stay one line."""
    shown = sep.join(str(item) for item in items[:show])
    return shown + (f"{sep}... (+{len(items) - show})" if len(items) > show else "")


def number_as_text_hint(value: object) -> str:
    """Why a config number may arrive as text: snakemake parses nested `--config` values with YAML's
    BaseLoader, which keeps every scalar a string. Appended to type errors so users know where to look."""
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return " (text, not a number: snakemake reads nested --config values as text; use a --configfile)"
    return ""


@contextlib.contextmanager
def exit_on_input_error(prog: str = "locfusion") -> Iterator[None]:
    """Turn an `InputError` into `prog: error: <message>` on stderr and exit status 1."""
    try:
        yield
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
