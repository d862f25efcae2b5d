"""Glue for Snakemake `script:` entry points: logging to the rule's log, clean errors.

Each script in workflow/scripts is a few lines calling `run(snakemake, main)`.
Logs (and tqdm progress bars) go to the rule's `log:` file; a bad-input error
is written as one line both there and to the terminal, and the job exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from .errors import InputError


def configure_logging(stream: Any = None, level: int = logging.INFO) -> None:
    logging.basicConfig(
        stream=stream or sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run `main(snakemake)` with logging to snakemake.log[0] and one-line input errors."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    terminal = sys.stderr
    with contextlib.ExitStack() as stack:
        if log_path:
            os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
            handle = stack.enter_context(open(log_path, "w", buffering=1))
            sys.stderr = handle
        configure_logging(sys.stderr)
        try:
            main(snakemake)
        except InputError as exc:
            message = f"locfusion: error in rule {snakemake.rule}: {exc}"
            print(message, file=sys.stderr, flush=True)
            if sys.stderr is not terminal:
                print(message, file=terminal, flush=True)
            sys.stderr = terminal
            raise SystemExit(1) from None
        finally:
            sys.stderr = terminal
            _record_imports(snakemake.rule)


# Tests set this to a directory: each job then lists the modules it imported, so that a
# test can check every rule's conda env provides what the rule's code really uses.
IMPORT_LOG_ENV = "LOCFUSION_IMPORT_LOG"


def _record_imports(rule: str) -> None:
    folder = os.environ.get(IMPORT_LOG_ENV)
    if not folder:
        return
    names = sorted({name if name.startswith("locfusion") else name.split(".")[0] for name in list(sys.modules)})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{rule}.{os.getpid()}.txt"), "w") as handle:
        handle.write("\n".join(names) + "\n")
