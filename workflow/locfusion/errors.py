"""User-facing errors: one clear line that names the record and the problem.

Library code raises `InputError` for anything wrong with the user's data or
configuration; entry points (CLI, Snakemake scripts) catch it with
`exit_on_input_error` and print that single line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class InputError(ValueError):
    """Bad user input (FASTA, TSV, config, bundle); the message is the whole story."""


@contextlib.contextmanager
def exit_on_input_error(prog: str = "locfusion") -> Iterator[None]:
    """Turn an `InputError` into `prog: error: <message>` on stderr and exit status 1."""
    try:
        yield
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
