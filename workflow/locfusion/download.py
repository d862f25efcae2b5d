"""Download a data file and verify it by its git blob id.

DeepLocPro's FASTA is identified by the id `git hash-object` prints (SHA-1 of
"blob <size>\\0" + content), the checksum recorded in the data's provenance.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

from .errors import InputError
from .io import atomic_path

log = logging.getLogger(__name__)


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The id `git hash-object FILE` prints."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download_checked(url: str, dest: str | os.PathLike[str], expected_blob_sha1: str | None, timeout: float = 120) -> None:
    """Fetch `url` to `dest` atomically; refuse a file whose git blob id differs."""
    log.info("downloading %s", url)
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
        except OSError as exc:
            raise InputError(
                f"cannot download {url} ({exc}); download it by hand and set data.fasta in the config"
            ) from None
        check_blob(tmp, expected_blob_sha1, what=url)
    log.info("saved %s", dest)


def check_blob(path: str | os.PathLike[str], expected: str | None, what: str) -> None:
    if not expected:
        return
    actual = git_blob_sha1(path)
    if actual != expected:
        raise InputError(f"{what}: git blob id {actual} differs from the expected {expected} (corrupt or changed file)")
