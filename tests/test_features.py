"""Weight-free embedders (onehot, blosum62, physchem) and sequence validation / cropping."""

from __future__ import annotations

import numpy as np
import pytest
from Bio.Align import substitution_matrices
from Bio.SeqUtils import ProtParamData

from locfusion.embedders import build_embedder
from locfusion.embedders.base import STANDARD_AA
from locfusion.embedders.features import BLOSUM_SCALE, DEFAULT_PHYSCHEM_SCALES, hydrophobic_moment
from locfusion.errors import InputError
from locfusion.sequence import crop_sequence, effective_limit, validate_sequence

KINDS = {"onehot": 21, "blosum62": 20, "physchem": len(DEFAULT_PHYSCHEM_SCALES)}
RARE = "XUZBO"


def embed(kind: str, seq: str, **spec) -> np.ndarray:
    return build_embedder(kind, {"kind": kind, **spec}).embed_batch([seq])[0]


def random_protein(rng: np.random.Generator, n: int, alphabet: str = STANDARD_AA + RARE) -> str:
    return "".join(rng.choice(list(alphabet), size=n))


@pytest.mark.parametrize("kind,dim", KINDS.items())
def test_shape_dtype_dim(kind: str, dim: int) -> None:
    emb = build_embedder(f"my_{kind}", {"kind": kind})
    assert emb.kind == kind and emb.dim == dim and emb.max_residues is None
    out = emb.embed_batch(["MKV", STANDARD_AA + RARE])
    assert [o.shape for o in out] == [(3, dim), (25, dim)]
    assert all(o.dtype == np.float32 for o in out)
    assert all(np.isfinite(o).all() for o in out)
    prov = emb.provenance()
    assert prov["embedder"] == f"my_{kind}" and prov["kind"] == kind and prov["dim"] == dim
    assert len(prov["columns"].split(",")) == dim


def test_blosum_rows_equal_biopython() -> None:
    matrix = substitution_matrices.load("BLOSUM62")
    letters = STANDARD_AA + "BZX"
    out = embed("blosum62", letters) * BLOSUM_SCALE
    expected = np.array([[matrix[a, b] for b in STANDARD_AA] for a in letters])
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # Spot check against the published matrix: W-W = 11, A-R = -1, C-C = 9.
    assert out[STANDARD_AA.index("W"), STANDARD_AA.index("W")] == pytest.approx(11)
    # U is treated as C and O as K.
    np.testing.assert_array_equal(embed("blosum62", "U"), embed("blosum62", "C"))
    np.testing.assert_array_equal(embed("blosum62", "O"), embed("blosum62", "K"))


def test_onehot_rows() -> None:
    out = embed("onehot", STANDARD_AA)
    np.testing.assert_array_equal(out[:, :20], np.eye(20))
    assert (out[:, 20] == 0).all()
    rare = embed("onehot", RARE)
    np.testing.assert_allclose(rare.sum(axis=1), 1.0)
    col = {aa: i for i, aa in enumerate(STANDARD_AA)}
    x, u, z, b, o = rare
    assert x[20] == 1 and x[:20].sum() == 0
    assert u[col["C"]] == 1 and o[col["K"]] == 1
    assert b[col["D"]] == b[col["N"]] == 0.5
    assert z[col["E"]] == z[col["Q"]] == 0.5


def test_physchem_standardized_from_biopython() -> None:
    out = embed("physchem", STANDARD_AA)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    kd = np.array([ProtParamData.kd[a] for a in STANDARD_AA])
    col = DEFAULT_PHYSCHEM_SCALES.index("kd")
    np.testing.assert_allclose(out[:, col], (kd - kd.mean()) / kd.std(), atol=1e-5)
    # Most hydrophobic residue by Kyte-Doolittle is I.
    assert STANDARD_AA[int(out[:, col].argmax())] == "I"
    x, u, z, b, o = embed("physchem", RARE)
    np.testing.assert_allclose(x, 0, atol=1e-7)
    aa = {a: out[i] for i, a in enumerate(STANDARD_AA)}
    np.testing.assert_allclose(b, (aa["D"] + aa["N"]) / 2, atol=1e-6)
    np.testing.assert_allclose(z, (aa["E"] + aa["Q"]) / 2, atol=1e-6)
    np.testing.assert_array_equal(u, aa["C"])
    np.testing.assert_array_equal(o, aa["K"])


def test_physchem_scales_option() -> None:
    emb = build_embedder("p", {"kind": "physchem", "scales": ["Eisenberg", "Flex"]})
    assert emb.dim == 2 and emb.columns == ("Eisenberg", "Flex")
    with pytest.raises(InputError, match="unknown physchem scale.*'nope'"):
        build_embedder("p", {"kind": "physchem", "scales": ["kd", "nope"]})


@pytest.mark.parametrize("kind", KINDS)
def test_batched_equals_one_at_a_time(kind: str) -> None:
    rng = np.random.default_rng(0)
    seqs = [random_protein(rng, int(n)) for n in rng.integers(1, 300, size=12)]
    emb = build_embedder(kind, {"kind": kind})
    batched = emb.embed_batch(seqs)
    for seq, out in zip(seqs, batched, strict=True):
        np.testing.assert_array_equal(out, emb.embed_batch([seq])[0])
    # Position-independent: each row depends on its residue only.
    np.testing.assert_array_equal(batched[0][0], emb.embed_batch([seqs[0][0]])[0][0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ["MKa", "MK*V", "MK-V", "MKJ", "MKé"])
def test_embedder_refuses_invalid_residue(kind: str, bad: str) -> None:
    with pytest.raises(InputError, match="position 3"):
        build_embedder(kind, {"kind": kind}).embed_batch(["MKV", bad])


def test_validate_sequence() -> None:
    assert validate_sequence("P1", "mkv*") == "MKV"
    assert validate_sequence("P1", "MKV\nLLA\n") == "MKVLLA"
    assert validate_sequence("P1", "MXUZBO") == "MXUZBO"
    with pytest.raises(InputError, match=r"record 'sp\|Q9\|Y_ECOLI'.*'J' at position 3"):
        validate_sequence("sp|Q9|Y_ECOLI", "MKJL")
    with pytest.raises(InputError, match=r"record 'P2'.*'\*' at position 3 \(internal stop codon\)"):
        validate_sequence("P2", "MK*L*")
    with pytest.raises(InputError, match="'-' at position 2.*alignment gap.*1 more"):
        validate_sequence("P3", "M-K-")
    with pytest.raises(InputError, match="record 'P4': empty sequence"):
        validate_sequence("P4", "*")
    with pytest.raises(InputError, match="record 'P5': empty"):
        validate_sequence("P5", "")


def test_crop_sequence_keeps_both_ends() -> None:
    seq = "".join(STANDARD_AA[i % 20] for i in range(5000))
    for max_len in (1000, 999, 2, 1):
        cropped = crop_sequence(seq, max_len)
        head, tail = -(-max_len // 2), max_len // 2
        assert len(cropped) == max_len
        assert cropped[:head] == seq[:head]
        assert cropped[head:] == (seq[-tail:] if tail else "")
    assert crop_sequence("MKV", 3) == "MKV"
    assert crop_sequence("MKVL", 3) == "MKL"
    with pytest.raises(ValueError):
        crop_sequence("MKV", 0)


def test_effective_limit() -> None:
    assert effective_limit(None, None) is None
    assert effective_limit(1000, None) == 1000
    assert effective_limit(None, 1022) == 1022
    assert effective_limit(2000, 1022) == 1022


# --- profile: windowed scales and distance to the termini ---------------------------------


def test_profile_default_columns_and_provenance() -> None:
    emb = build_embedder("ctx", {"kind": "profile"})
    assert emb.kind == "profile" and emb.max_residues is None
    assert emb.columns == ("kd_w9", "kd_w19", "nterm_10", "nterm_40", "cterm_10", "cterm_40")
    assert emb.dim == 6 and emb.provenance()["columns"] == ",".join(emb.columns)
    out = emb.embed_batch(["MKV", STANDARD_AA + RARE])
    assert [o.shape for o in out] == [(3, 6), (25, 6)] and all(o.dtype == np.float32 for o in out)


def test_profile_windows_are_means_of_the_physchem_values_within_the_protein() -> None:
    rng = np.random.default_rng(1)
    seq = random_protein(rng, 57)
    residue = embed("physchem", seq, scales=["kd", "hw"]).astype(np.float64)
    out = embed("profile", seq, scales=["kd", "hw"], windows=[1, 5, 19], termini=[])
    assert out.shape == (57, 6)
    np.testing.assert_allclose(out[:, 0:2], residue, atol=1e-6)  # a 1-residue window is the residue itself
    for block, w in ((slice(2, 4), 5), (slice(4, 6), 19)):
        expected = np.array([residue[max(0, i - w // 2) : i + w // 2 + 1].mean(axis=0) for i in range(57)])
        np.testing.assert_allclose(out[:, block], expected, atol=1e-5)


def test_profile_finds_a_transmembrane_helix_and_knows_the_termini() -> None:
    helix = "LLIVALLFAVLIGLLAVIL"  # 19 hydrophobic residues between polar stretches
    seq = "M" + "SKDENQ" * 8 + helix + "SKDENQ" * 8
    out = embed("profile", seq)
    kd19 = out[:, 1]
    centre = 1 + 48 + len(helix) // 2
    assert int(kd19.argmax()) == centre and kd19[centre] > 1.0 > kd19[10]
    # Proximity is 1 at each end and 1/e one decay length in; reversing the protein swaps N and C.
    n10, n40, c10, c40 = out[:, 2], out[:, 3], out[:, 4], out[:, 5]
    assert n10[0] == n40[0] == c10[-1] == c40[-1] == 1.0
    assert n10[10] == pytest.approx(np.exp(-1), rel=1e-6) and c40[-41] == pytest.approx(np.exp(-1), rel=1e-6)
    reverse = embed("profile", seq[::-1])
    np.testing.assert_allclose(reverse[:, 2:4], out[::-1, 4:6], atol=1e-7)


def test_profile_depends_on_position_but_not_on_batching() -> None:
    emb = build_embedder("ctx", {"kind": "profile"})
    rng = np.random.default_rng(2)
    seqs = [random_protein(rng, int(n)) for n in rng.integers(1, 300, size=8)]
    for seq, out in zip(seqs, emb.embed_batch(seqs), strict=True):
        np.testing.assert_array_equal(out, emb.embed_batch([seq])[0])
    a = emb.embed_batch(["MAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAK"])[0]
    assert not np.allclose(a[2], a[24])  # the same residue, A, at two places: different context


def test_hydrophobic_moment_is_eisenbergs_sum_within_the_window() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(41, 2))
    out = hydrophobic_moment(values, 100, 11)
    for i in (0, 3, 20, 40):  # at the ends: the protein's own residues, still divided by the window
        js = np.arange(max(0, i - 5), min(41, i + 6))
        expected = np.abs((values[js] * np.exp(1j * np.deg2rad(100) * js)[:, None]).sum(axis=0)) / 11
        np.testing.assert_allclose(out[i], expected, atol=1e-12)


def test_profile_moments_tell_a_beta_strand_from_a_helix_and_see_charge() -> None:
    """A strand alternating in/out scores at 180 degrees, an amphipathic helix at 100, not the other way round."""
    spec = {"scales": ["kd", "charge"], "windows": [9], "termini": [], "moments": [[100, 11], [180, 9]]}
    emb = build_embedder("ctx", {"kind": "profile", **spec})
    assert emb.columns == ("kd_w9", "charge_w9", "kd_m100_w11", "charge_m100_w11", "kd_m180_w9", "charge_m180_w9")
    strand, helix = "GS" + "VTVSVTVSVNVTVY" + "GS", "GS" + "LKKLLEKLAKLLEKL" + "GS"
    s_out, h_out = emb.embed_batch([strand, helix])
    kd100, kd180 = 2, 4
    assert s_out[8, kd180] > 2 * s_out[8, kd100] and h_out[8, kd100] > 2 * h_out[8, kd180]
    poly = emb.embed_batch(["L" * 30])[0]  # no alternation: the moments cancel away from the ends
    assert poly[15, kd100] < 0.2 * h_out[8, kd100] and poly[15, kd180] < 0.2 * s_out[8, kd180]
    charged = emb.embed_batch(["KRKRKRKRKRAAAAAAAAAAAAAAADEDEDEDED"])[0]
    assert charged[4, 1] > 1.0 > 0.0 > -1.0 > charged[-5, 1]  # standardized: K/R +2.2, D/E -2.2


@pytest.mark.parametrize("spec,message", [
    ({"moments": [[100, 10]]}, "'moments' must be a list of \\[angle in degrees 1-180, odd window\\]"),
    ({"moments": [[270, 9]]}, "'moments' must be a list"),
    ({"moments": [100, 11]}, "'moments' must be a list"),
    ({"moments": [[100, 11], [100, 11]]}, "'moments' lists a pair twice"),
    ({"windows": [], "termini": [], "moments": []}, "all empty"),
    ({"windows": [8]}, "'windows' must be a list of odd positive integers"),
    ({"windows": [0]}, "'windows' must be a list of odd positive integers"),
    ({"termini": ["ten"]}, "'termini' must be a list of positive integers"),
    ({"termini": [10, 10]}, "'termini' lists a value twice"),
    ({"scales": ["nope"]}, "unknown physchem scale"),
])
def test_profile_bad_spec_names_the_key(spec: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_embedder("ctx", {"kind": "profile", **spec})


@pytest.mark.parametrize("bad", ["MKa", "MK*V", "MKJ"])
def test_profile_refuses_invalid_residue(bad: str) -> None:
    with pytest.raises(InputError, match="position 3"):
        build_embedder("ctx", {"kind": "profile"}).embed_batch(["MKV", bad])
