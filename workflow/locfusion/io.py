"""Atomic file writes: a reader never sees a half-written output.

Every output is written to a temporary file in the same directory and renamed
over the destination, so a killed job leaves either the old file or nothing;
a full disk (or quota, or file size limit) is one `WriteError` line naming the
destination instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import WriteError

# errno values that mean "no room": the user can act on them (free space, raise a quota).
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    dest = Path(path)
    tmp_path: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared like any file
        os.replace(tmp_path, dest)
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise WriteError(f"{dest}: could not be written ({os.strerror(exc.errno)}); nothing was left half-written") from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_tsv(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Write a tab-separated table atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kwargs)


def read_id_tsv(path: str | os.PathLike[str], text_columns: tuple[str, ...] = ("id",), **kwargs: Any) -> pd.DataFrame:
    """Read a tab-separated table whose `text_columns` (protein IDs) stay text, exactly as written.

    pandas reads `NA`, `N/A`, `null`, `nan`, `None` and friends as missing values by default;
    as protein IDs they are ordinary names, and turning them into NaN loses proteins silently.
    Other columns keep pandas' number parsing; an empty cell stays empty text, not NaN.
    """
    dtype = {column: str for column in text_columns} | dict(kwargs.pop("dtype", {}))
    return pd.read_csv(path, sep="\t", dtype=dtype, keep_default_na=False, **kwargs)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks (the one checksum helper)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically, indented and with sorted keys for stable diffs."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
