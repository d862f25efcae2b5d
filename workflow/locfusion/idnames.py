"""Protein IDs as single path components: HDF5 link names and file names.

IDs may hold '/', '|', spaces or start with '.', none of which can be one HDF5
link name or one file name as is. Percent-encoding is reversible, so the ID is
never lost. Kept apart from `store` (which needs h5py, pandas and tqdm) because
the explanation files and plots use the same names in lighter environments.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from .errors import InputError

__all__ = ["dataset_name", "id_from_dataset_name"]


def dataset_name(protein_id: str) -> str:
    """HDF5 dataset name for a protein id: percent-encoding keeps it one path component."""
    if not isinstance(protein_id, str) or not protein_id:
        raise InputError(f"protein id must be a non-empty string, got {protein_id!r}")
    name = quote(protein_id, safe="")  # escapes '/', '|', '%', spaces, non-ASCII; keeps A-Za-z0-9_.-~
    return "%2E" + name[1:] if name.startswith(".") else name  # '.' and '..' are not valid link names


def id_from_dataset_name(name: str) -> str:
    """Inverse of `dataset_name`."""
    return unquote(name)
