"""Tests for the synthetic demo proteome (locfusion.demo).

The signal checks use independent detectors (regexes, a Kyte-Doolittle sliding
window from Biopython), not the generator's own feature tags, so they fail if a
planted signal stops looking like what it is meant to model.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from Bio.SeqUtils.ProtParamData import kd

from locfusion.classes import CANONICAL_TO_DEEPLOCPRO, CLASSES, DEEPLOCPRO_LABELS, GROUPS
from locfusion.demo import (
    DEFAULT_N,
    DEFAULT_SEED,
    FASTA_NAME,
    GROUPS_NAME,
    MAX_LENGTH,
    MIN_LENGTH,
    N_FOLDS,
    README_NAME,
    generate_demo_proteome,
    generate_demo_records,
    main,
    write_demo_fasta,
)
from locfusion.embedders.base import VALID_AA

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "resources" / "demo" / FASTA_NAME
HEADER_RE = re.compile(
    r"^SYN\d{5}\|(" + "|".join(map(re.escape, DEEPLOCPRO_LABELS)) + r")\|(" + "|".join(GROUPS) + r")\|[0-4]$"
)
D = CANONICAL_TO_DEEPLOCPRO  # canonical -> raw label spelling


@pytest.fixture(scope="module")
def proteome() -> list[tuple[str, str]]:
    return generate_demo_proteome()


@pytest.fixture(scope="module")
def valid(proteome: list[tuple[str, str]]) -> list[dict]:
    """Records an input filter would keep: 40-1000 aa, first occurrence of each sequence."""
    seen: set[str] = set()
    out = []
    for header, seq in proteome:
        if not MIN_LENGTH <= len(seq) <= MAX_LENGTH or seq in seen:
            continue
        seen.add(seq)
        rid, label, group, fold = header.split("|")
        out.append({"id": rid, "label": label, "group": group, "fold": int(fold), "seq": seq})
    return out


def _of(valid: list[dict], label: str, group: str | None = None) -> list[str]:
    return [r["seq"] for r in valid if r["label"] == label and (group is None or r["group"] == group)]


def _kd_windows(seq: str, width: int) -> np.ndarray:
    values = np.array([kd.get(aa, 0.0) for aa in seq])
    if len(values) < width:
        return np.array([-np.inf])
    return np.convolve(values, np.ones(width) / width, mode="valid")


def _frac(pred, seqs: list[str]) -> float:
    assert seqs
    return float(np.mean([bool(pred(s)) for s in seqs]))


# --- determinism and the committed file ------------------------------------


def test_same_seed_same_output_other_seed_differs(proteome, tmp_path):
    assert generate_demo_proteome() == proteome
    assert generate_demo_proteome(seed=DEFAULT_SEED + 1) != proteome
    a = write_demo_fasta(tmp_path / "a" / FASTA_NAME)
    b = write_demo_fasta(tmp_path / "b" / FASTA_NAME)
    assert a.read_bytes() == b.read_bytes()
    assert (a.parent / README_NAME).read_bytes() == (b.parent / README_NAME).read_bytes()
    assert a.read_text() == "".join(f">{h}\n{s}\n" for h, s in proteome)


def test_committed_demo_matches_fresh_generation(tmp_path):
    """The bundled file must be exactly what the generator makes with default arguments."""
    assert COMMITTED.is_file(), "run: .venv/bin/python -m locfusion.demo resources/demo"
    fresh = write_demo_fasta(tmp_path / FASTA_NAME)
    assert COMMITTED.read_bytes() == fresh.read_bytes()
    assert (COMMITTED.parent / README_NAME).read_bytes() == (tmp_path / README_NAME).read_bytes()
    assert (COMMITTED.parent / GROUPS_NAME).read_bytes() == (tmp_path / GROUPS_NAME).read_bytes()


def test_groups_table_names_every_record_by_its_predict_id_and_header_group(tmp_path):
    fasta = write_demo_fasta(tmp_path / FASTA_NAME, n=60, seed=5)
    rows = [line.split("\t") for line in (tmp_path / GROUPS_NAME).read_text().splitlines()]
    assert rows[0] == ["id", "group"]
    headers = [line[1:] for line in fasta.read_text().splitlines() if line.startswith(">")]
    assert [r[0] for r in rows[1:]] == [h.split()[0] for h in headers]
    assert [r[1] for r in rows[1:]] == [h.split("|")[2] for h in headers]
    assert {r[1] for r in rows[1:]} == {"negative", "positive", "archaea"}


def test_readme_says_synthetic_and_how_to_regenerate(tmp_path):
    write_demo_fasta(tmp_path / FASTA_NAME, n=60, seed=5)
    text = (tmp_path / README_NAME).read_text()
    assert "SYNTHETIC" in text and "not real proteins" in text
    assert "python -m locfusion.demo resources/demo --n 60 --seed 5" in text


def test_cli_writes_both_files_and_rejects_tiny_n(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--n", "60", "--seed", "7"]) == 0
    fasta = tmp_path / "out" / FASTA_NAME
    assert fasta.read_text().count(">") == 60 + 8
    assert (tmp_path / "out" / README_NAME).is_file()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "tiny"), "--n", "10"])
    assert exc.value.code == 2
    assert "too small" in capsys.readouterr().err


# --- format, folds, counts -------------------------------------------------


def test_headers_ids_and_alphabet(proteome):
    ids = [h.split("|")[0] for h, _ in proteome]
    assert len(set(ids)) == len(ids)
    assert ids == [f"SYN{i:05d}" for i in range(1, len(ids) + 1)]
    for header, seq in proteome:
        assert HEADER_RE.match(header), header
        assert seq and set(seq) <= VALID_AA, header
        assert seq.startswith("M"), header
    assert sum("X" in s for _, s in proteome) >= 2
    assert sum("U" in s for _, s in proteome) >= 1


def test_excluded_records_give_the_filter_work(proteome, valid):
    lengths = [len(s) for _, s in proteome]
    assert len(proteome) == DEFAULT_N + 8
    assert sum(n < MIN_LENGTH for n in lengths) == 3
    assert sum(n > MAX_LENGTH for n in lengths) == 4
    assert MIN_LENGTH - 1 in lengths and MAX_LENGTH + 1 in lengths  # boundary cases
    counts = Counter(s for _, s in proteome)
    dups = [s for s, k in counts.items() if k > 1]
    assert len(dups) == 1 and counts[dups[0]] == 2
    assert MIN_LENGTH <= len(dups[0]) <= MAX_LENGTH  # only the duplication makes it bad
    assert len(valid) == DEFAULT_N
    # the generator's own bookkeeping agrees with what a filter finds
    assert Counter(r.excluded for r in generate_demo_records() if r.excluded) == {
        "too_short": 3,
        "too_long": 4,
        "duplicate": 1,
    }


def test_lengths_mostly_60_to_600(valid):
    lengths = np.array([len(r["seq"]) for r in valid])
    assert np.mean((lengths >= 60) & (lengths <= 600)) >= 0.85
    assert 150 <= np.median(lengths) <= 450


def test_every_class_in_every_fold_balanced(valid):
    for cls in CLASSES:
        folds = Counter(r["fold"] for r in valid if r["label"] == D[cls])
        assert set(folds) == set(range(N_FOLDS)), cls
        assert max(folds.values()) - min(folds.values()) <= 1, (cls, folds)
        for group in GROUPS:  # stratified by organism group too
            per_group = Counter(r["fold"] for r in valid if r["label"] == D[cls] and r["group"] == group)
            if sum(per_group.values()) >= N_FOLDS:
                assert min(per_group.get(f, 0) for f in range(N_FOLDS)) >= max(per_group.values()) - 1, (cls, group)


def test_class_group_combinations_are_biological(valid):
    table = Counter((r["label"], r["group"]) for r in valid)
    per_class = Counter(r["label"] for r in valid)
    per_group = Counter(r["group"] for r in valid)
    for cls in CLASSES:
        assert 0.10 * DEFAULT_N <= per_class[D[cls]] <= 0.30 * DEFAULT_N, cls
    for group in GROUPS:
        assert per_group[group] >= 0.12 * DEFAULT_N, group
    for cls in ("Periplasmic", "Outer membrane"):
        assert set(g for (lab, g) in table if lab == D[cls]) == {"negative"}, cls
    assert {lab for (lab, g) in table if g == "archaea"} == {
        D["Cytoplasmic"],
        D["Cytoplasmic membrane"],
        D["Extracellular"],
    }
    assert table[(D["Cell wall & surface"], "positive")] >= 0.75 * per_class[D["Cell wall & surface"]]
    for cls in ("Cytoplasmic", "Cytoplasmic membrane", "Extracellular"):
        assert all(table[(D[cls], g)] >= 10 for g in GROUPS), cls


def test_other_sizes_keep_the_invariants():
    recs = [r for r in generate_demo_records(n=95, seed=11) if r.excluded is None]
    assert len(recs) == 95
    for cls in CLASSES:
        folds = Counter(r.fold for r in recs if r.label == D[cls])
        assert set(folds) == set(range(N_FOLDS)) and max(folds.values()) - min(folds.values()) <= 1
    with pytest.raises(ValueError, match="too small"):
        generate_demo_records(n=20)


# --- planted signals -------------------------------------------------------

LIPOBOX = re.compile(r"[LVI][ASTVI][GAS]C")


def _signal_peptide_like(seq: str) -> bool:
    """Positive n-region, hydrophobic core, then an AxA cleavage site or a lipobox."""
    head = seq[:45]
    return (
        re.search(r"[KR]", head[1:12]) is not None
        and _kd_windows(head[:40], 8).max() > 2.0
        and (re.search(r"A.A", head[12:]) is not None or LIPOBOX.search(head[12:]) is not None)
    )


def _has_tm_helix(seq: str) -> bool:
    """Kyte-Doolittle 19-residue window above 2.2 (stricter than the classic 1.6, which random
    background with UniProt composition crosses too often)."""
    return _kd_windows(seq, 19).max() > 2.2


def _sortase_anchor(seq: str) -> bool:
    """LPXTG near the C-terminus, then a hydrophobic stretch and a K/R-rich tail."""
    m = re.search(r"LP.TG(.{15,35})$", seq[-50:])
    return m is not None and _kd_windows(m.group(1), 10).max() > 2.0 and sum(c in "KR" for c in seq[-10:]) >= 3


def _lipobox_after_signal(seq: str) -> bool:
    m = LIPOBOX.search(seq[12:45])
    return m is not None and _kd_windows(seq[: 12 + m.start() + 1], 8).max() > 2.0


def _beta_barrel_end(seq: str) -> bool:
    """Aromatic C-terminus and a lipid-facing hydrophobic residue every second position before it."""
    return seq[-1] in "FW" and np.mean([c in "LVIFYAW" for c in seq[-9::2]]) >= 0.8


def test_signal_peptides_in_secreted_and_envelope_classes(valid):
    for cls in ("Extracellular", "Periplasmic", "Outer membrane", "Cell wall & surface"):
        assert _frac(_signal_peptide_like, _of(valid, D[cls])) >= 0.75, cls
    assert _frac(_signal_peptide_like, _of(valid, D["Cytoplasmic"])) <= 0.10


def test_transmembrane_helices_in_cytoplasmic_membrane(valid):
    assert _frac(_has_tm_helix, _of(valid, D["Cytoplasmic membrane"])) >= 0.75
    assert _frac(_has_tm_helix, _of(valid, D["Cytoplasmic"])) <= 0.15
    # multi-pass proteins: several separate hydrophobic stretches
    n_segments = [
        int(np.sum(np.diff((_kd_windows(s, 19) > 2.2).astype(int)) == 1)) for s in _of(valid, D["Cytoplasmic membrane"])
    ]
    assert sum(k >= 2 for k in n_segments) >= 10
    # positive-inside: a K/R within the 4 residues before the first helix (N-in topology)
    cm = [s for s in _of(valid, D["Cytoplasmic membrane"]) if _has_tm_helix(s) and not _lipobox_after_signal(s)]
    first_tm = [int(np.argmax(_kd_windows(s, 19) > 2.2)) for s in cm]
    assert (
        np.mean([re.search(r"[KR]", s[max(0, i - 4) : i + 1]) is not None for s, i in zip(cm, first_tm, strict=True)])
        >= 0.6
    )


def test_lpxtg_anchor_in_gram_positive_cell_wall(valid):
    assert _frac(_sortase_anchor, _of(valid, D["Cell wall & surface"], "positive")) >= 0.8
    others = [r["seq"] for r in valid if r["label"] != D["Cell wall & surface"]]
    assert _frac(_sortase_anchor, others) == 0.0


def test_lipobox_in_membrane_lipoproteins(valid):
    om = _of(valid, D["Outer membrane"])
    cm = _of(valid, D["Cytoplasmic membrane"])
    assert sum(map(_lipobox_after_signal, om)) >= 5
    assert sum(map(_lipobox_after_signal, cm)) >= 3
    assert _frac(_lipobox_after_signal, _of(valid, D["Cytoplasmic"])) <= 0.03
    # Lol sorting signal: Gram-negative outer-membrane lipoproteins have Ser after the Cys
    plus2 = [s[12 + m.end()] for s in om if (m := LIPOBOX.search(s[12:45])) and _lipobox_after_signal(s)]
    assert plus2 and Counter(plus2).most_common(1)[0][0] == "S"


def test_beta_barrel_c_terminus_in_outer_membrane(valid):
    assert _frac(_beta_barrel_end, _of(valid, D["Outer membrane"])) >= 0.6
    for cls in ("Cytoplasmic", "Periplasmic", "Extracellular"):
        assert _frac(_beta_barrel_end, _of(valid, D[cls])) <= 0.1, cls


# --- learnable, but not trivially ------------------------------------------


def test_composition_baseline_is_above_chance_but_not_perfect(valid):
    """Logistic regression on amino-acid composition of the first and last 30 residues,
    cross-validated over the predefined folds. With the default seed: balanced (macro)
    accuracy 0.571, plain accuracy 0.607 (chance: 1/6). Extracellular vs Periplasmic is
    nearly indistinguishable from composition alone, by design (same signal peptide)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alphabet = "ACDEFGHIKLMNPQRSTVWY"

    def composition(seq: str) -> list[float]:
        feats: list[float] = []
        for part in (seq[:30], seq[-30:]):
            counts = Counter(part)
            feats += [counts[a] / len(part) for a in alphabet]
        return feats

    x = np.array([composition(r["seq"]) for r in valid])
    y = np.array([r["label"] for r in valid])
    folds = np.array([r["fold"] for r in valid])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    pred = cross_val_predict(model, x, y, cv=PredefinedSplit(folds))
    score = balanced_accuracy_score(y, pred)
    assert 0.5 < score < 1.0, score
