"""FASTA normalization and the study filter, on hand-made bad input and the real partial DeepLocPro set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from locfusion.classes import CLASSES, normalize_class, normalize_group
from locfusion.dataset import FilterSettings, filter_proteins, proteins_frame, reason_counts
from locfusion.download import git_blob_sha1
from locfusion.errors import InputError
from locfusion.fasta import read_labelled_fasta, read_plain_fasta
from locfusion.io import read_id_tsv
from locfusion.pipeline import filter_dataset, normalize

SEQ = "MKKLLPTAAAGLLLLAAQPAMAQVDEKLSRWGHNTEIYKDFPQ"  # 43 aa


def write(tmp_path: Path, text: str, name: str = "in.fasta") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("CYtoplasmicMembrane", "Cytoplasmic membrane"),
        ("Cellwall", "Cell wall & surface"),
        ("OuterMembrane", "Outer membrane"),
        ("cytosol", "Cytoplasmic"),
        ("Periplasmic", "Periplasmic"),
        ("Extracellular", "Extracellular"),
        ("inner membrane", "Cytoplasmic membrane"),
    ],
)
def test_label_spellings_normalize(raw: str, canonical: str) -> None:
    assert normalize_class(raw) == canonical


def test_group_spellings_normalize() -> None:
    assert [normalize_group(g) for g in ("negative", "positive", "archaea", "Gram-positive")] == [
        "negative", "positive", "archaea", "positive"
    ]
    assert normalize_group("fungi") is None


def test_reads_valid_records_with_rare_residues(tmp_path: Path) -> None:
    path = write(tmp_path, f">P1|Cellwall|positive|2\n{SEQ}XUZBO\n>P2|cytoplasmic|archaea|0\n{SEQ.lower()}\n")
    proteins = read_labelled_fasta(path)
    assert [(p.id, p.label, p.group, p.fold) for p in proteins] == [
        ("P1", "Cell wall & surface", "positive", 2),
        ("P2", "Cytoplasmic", "archaea", 0),
    ]
    assert proteins[0].sequence.endswith("XUZBO") and proteins[1].sequence == SEQ


@pytest.mark.parametrize(
    "text, needle",
    [
        ("hello\nworld\n", "not a FASTA"),
        ("", "no FASTA records"),
        (">P1|Cytoplasmic|negative|0\n\n", "P1"),
        (">P1|Cytoplasmic|negative\nMKV\n", "3 '|'-separated field(s), expected 4"),
        (">P1|Nucleus|negative|0\nMKV\n", "unknown location label 'Nucleus'"),
        (">P1|Cytoplasmic|fungi|0\nMKV\n", "unknown organism group 'fungi'"),
        (">P1|Cytoplasmic|negative|7\nMKV\n", "fold 7 outside 0-4"),
        (">P1|Cytoplasmic|negative|a\nMKV\n", "fold 'a' is not an integer"),
        (">P1|Cytoplasmic|negative|1_0\nMKV\n", "fold '1_0' is not an integer"),  # int() would read 10
        (">P1|Cytoplasmic|negative|0|x\nMKV\n", "5 '|'-separated field(s), expected 4"),
        (">P 1|Cytoplasmic|negative|0\nMKV\n", "protein ID 'P 1' contains a space"),
        (f">P1|Cytoplasmic|negative|0\n{'ATGGCTAAAGGTACCTGA' * 3}\n", "record 1 'P1': looks like a nucleotide sequence"),
        (f">P1|Cytoplasmic|negative|0\n{'ACGUUGCA' * 7}\n", "looks like a nucleotide sequence (only ACGU)"),
        (">P1|Cytoplasmic|negative|0\nMKV\n>P1|Cytoplasmic|negative|1\nMKV\n", "duplicate ID 'P1'"),
        (">P1|Cytoplasmic|negative|0\nMKV1J\n", "P1"),
    ],
)
def test_bad_input_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_labelled_fasta(path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_invalid_character_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, f">P9|Cytoplasmic|negative|0\n{SEQ}1\n")
    with pytest.raises(InputError, match=r"P9.*'1'"):
        read_labelled_fasta(path)


def test_binary_file_is_not_fasta(tmp_path: Path) -> None:
    path = tmp_path / "x.fasta"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(InputError, match="not a FASTA"):
        read_labelled_fasta(path)


def test_one_reader_for_every_fasta(tmp_path: Path) -> None:
    """gzip, a byte-order mark, spaces in labels and groups, descriptions: normalize and predict read alike."""
    import gzip

    text = f">P1|inner membrane|gram positive|0 a description\n{SEQ}\n>P2|Cytoplasmic|negative|3\n{SEQ}\n"
    plain = read_labelled_fasta(write(tmp_path, text))
    assert [(p.id, p.label, p.group, p.fold) for p in plain] == [
        ("P1", "Cytoplasmic membrane", "positive", 0), ("P2", "Cytoplasmic", "negative", 3)
    ]
    (tmp_path / "in.fasta.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "bom.fasta").write_bytes(b"\xef\xbb\xbf" + text.encode())
    for name in ("in.fasta.gz", "bom.fasta"):
        assert read_labelled_fasta(tmp_path / name) == plain
        assert read_plain_fasta(tmp_path / name) == [("P1|inner", SEQ), ("P2|Cytoplasmic|negative|3", SEQ)]
    (tmp_path / "bad.gz").write_bytes(gzip.compress(text.encode())[:-12])
    with pytest.raises(InputError, match="bad.gz: damaged gzip file"):
        read_plain_fasta(tmp_path / "bad.gz")
    with pytest.raises(InputError, match=f"^{tmp_path}: is a directory, not a FASTA file$"):
        read_labelled_fasta(tmp_path)


def test_a_byte_that_is_not_text_is_placed(tmp_path: Path) -> None:
    """Latin-1 'é' (0xE9) in a sequence: the record and residue position, not a byte offset."""
    path = tmp_path / "latin1.fasta"
    path.write_bytes(f">P1|Cytoplasmic|negative|0\n{SEQ}\n>P2|Cytoplasmic|negative|1\nMKV\nLL".encode() + b"\xe9AA\n")
    with pytest.raises(InputError, match=r"record 2 'P2\|Cytoplasmic\|negative\|1': byte 0xE9 at residue position 6 "):
        read_labelled_fasta(path)
    path.write_bytes(b">P1|Cytopl\xe9smic|negative|0\nMKV\n")
    with pytest.raises(InputError, match=r"record 1: byte 0xE9 in the header is not UTF-8 text"):
        read_labelled_fasta(path)


def test_plain_fasta_ids_up_to_first_space(tmp_path: Path) -> None:
    path = write(tmp_path, f">sp|P0A7V0|RS2_ECOLI 30S protein\n{SEQ}\n>WP_000.1 hypothetical\n{SEQ}\n")
    assert [pid for pid, _ in read_plain_fasta(path)] == ["sp|P0A7V0|RS2_ECOLI", "WP_000.1"]


def test_filter_reasons_and_accounting(tmp_path: Path) -> None:
    text = (
        f">A|Cytoplasmic|negative|0\n{SEQ}\n"
        f">B|Cytoplasmic|negative|1\n{SEQ[:20]}\n"
        f">C|Periplasmic|negative|2\n{SEQ * 30}\n"
        f">D|Cytoplasmic|negative|3\n{SEQ}\n"
    )
    proteins = proteins_frame(read_labelled_fasta(write(tmp_path, text)))
    kept, excluded = filter_proteins(proteins, FilterSettings())
    assert kept["id"].tolist() == ["A"]
    assert dict(zip(excluded["id"], excluded["reason"])) == {
        "B": "too short (20 < 40 aa)",
        "C": "too long (1290 > 1000 aa)",
        "D": "duplicate sequence of A",
    }
    cropped, _ = filter_proteins(proteins, FilterSettings(long_policy="crop"))
    assert cropped["id"].tolist() == ["A", "C"] and cropped["cropped"].tolist() == [False, True]
    with pytest.raises(InputError, match="long_policy"):
        FilterSettings(long_policy="trim")


def test_real_partial_deeplocpro_counts(partial_fasta: Path, tmp_path: Path) -> None:
    """The study's filter on the real 1,131 proteins: 1,051 kept, 22 too short, 58 too long."""
    proteins = normalize(str(partial_fasta), str(tmp_path / "proteins.tsv"))
    assert len(proteins) == 1131
    assert set(proteins["label"]) == set(CLASSES)
    assert proteins["fold"].value_counts().sort_index().tolist() == [215, 234, 210, 240, 232]
    summary = filter_dataset(
        str(tmp_path / "proteins.tsv"), str(tmp_path / "dataset.tsv"), str(tmp_path / "excluded.tsv"),
        str(tmp_path / "summary.json"),
        {"min_length": 40, "max_length": 1000, "long_policy": "drop", "deduplicate": True},
    )
    assert (summary["input"], summary["kept"]) == (1131, 1051)
    assert summary["excluded_by_reason"] == {"too long": 58, "too short": 22}
    assert summary["kept"] + summary["excluded"] == summary["input"]


def test_reason_counts_groups_kinds() -> None:
    import pandas as pd

    excluded = pd.DataFrame({"reason": ["too short (3 < 40 aa)", "duplicate sequence of X", "too short (5 < 40 aa)"]})
    assert reason_counts(excluded) == {"duplicate sequence": 1, "too short": 2}


def test_git_blob_id_matches_git(tmp_path: Path) -> None:
    import subprocess

    path = write(tmp_path, ">A|Cytoplasmic|negative|0\nMKV\n")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert git_blob_sha1(path) == expected


NA_LIKE_IDS = ["NA", "N/A", "null", "nan", "None", "", "#N/A", "NaN"]


def test_ids_that_pandas_reads_as_missing_stay_names(tmp_path: Path) -> None:
    """Tables of protein IDs keep `NA`, `null`, `nan`, `None` ... as the names they are."""
    path = tmp_path / "plan.tsv"
    path.write_text("id\tshard\tscore\n" + "".join(f"{pid}\t{i % 2}\t0.{i}\n" for i, pid in enumerate(NA_LIKE_IDS)))
    table = read_id_tsv(path)
    assert table["id"].tolist() == NA_LIKE_IDS and table["shard"].tolist() == [0, 1] * 4
    assert table["score"].dtype.kind == "f"  # other columns still parse as numbers
    # what the default reader does, and why it must not be used for IDs
    assert pd.read_csv(path, sep="\t", dtype={"id": str})["id"].isna().sum() == len(NA_LIKE_IDS)
