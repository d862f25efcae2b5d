"""Tests for locfusion.models: the study's exact architecture, padding invariance, options."""

from __future__ import annotations

import sys

import pytest
import torch

from locfusion.errors import InputError
from locfusion.models import (
    ATTENTION_POOLING_DEFAULTS,
    FUSION_DEFAULTS,
    MODEL_DEFAULTS,
    MODEL_KINDS,
    build_model,
    count_parameters,
)
from locfusion.models.layers import length_mask, masked_softmax
from workflow_utils import REPO

# Small hyperparameters keep the behavioural tests fast; the exact study size is tested separately.
SMALL = {
    "fusion": {"hidden_dim": 32, "attention_heads": 4, "lstm_hidden": 16, "lstm_layers": 2, "pool_heads": 4,
               "classifier_hidden": 16},
    "attention_pooling": {"hidden_dim": 24},
}
INPUT_DIMS = [(20,), (20, 12), (20, 12, 7)]


def make_batch(dims, lengths, max_len=None, seed=0, pad_value=None):
    """Random per-residue inputs; padding is zeros (or noise with pad_value='noise')."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths, dtype=torch.int64)
    max_len = max_len or int(lengths.max())
    valid = length_mask(lengths, max_len)
    inputs = []
    for d in dims:
        x = torch.randn(len(lengths), max_len, d, generator=gen)
        pad = torch.randn(x.shape, generator=gen) * 5 if pad_value == "noise" else torch.zeros_like(x)
        inputs.append(torch.where(valid.unsqueeze(-1), x, pad))
    return inputs, lengths


def small_model(kind, dims, n_groups=0, seed=0, **extra):
    torch.manual_seed(seed)
    return build_model(kind, dims, {**SMALL[kind], **extra}, n_classes=6, n_groups=n_groups)


# --- the study's architecture -------------------------------------------------------------

def test_fusion_has_exactly_the_study_parameter_count_and_breakdown():
    model = build_model("fusion", [1280, 1024], {})
    assert count_parameters(model) == 8_412_936
    parts = {name: count_parameters(child) for name, child in model.named_children()}
    assert parts == {
        "cross_attention": 4_071_426,
        "bilstm": 3_154_944,
        "pooling": 789_504,
        "group_input": 0,
        "classifier": 397_062,
    }
    # The study's structural choices, not just the totals.
    attn = model.cross_attention.attentions
    assert len(attn) == 2 and all(a.num_heads == 8 and a.batch_first for a in attn)
    lstm = model.bilstm
    assert (lstm.num_layers, lstm.hidden_size, lstm.dropout) == (2, 256, 0.2)
    assert [[d.hidden_size for d in layer] for layer in lstm.layers] == [[256, 256], [256, 256]]
    assert model.pooling.heads == 4 and model.pooling.head_dim == 128
    assert model.classifier[-1].out_features == 6


def test_count_parameters_counts_only_trainable():
    model = build_model("attention_pooling", [20], {})
    total = count_parameters(model)
    # LayerNorm(20) + Linear(20->1) + Linear(20->256) + Linear(256->6)
    assert total == 40 + 21 + (20 * 256 + 256) + (256 * 6 + 6)
    model.norm.weight.requires_grad_(False)
    assert count_parameters(model) == total - 20


def test_defaults_are_exposed():
    assert set(MODEL_KINDS) == {"fusion", "attention_pooling"}
    assert MODEL_DEFAULTS["fusion"] == FUSION_DEFAULTS
    assert MODEL_DEFAULTS["attention_pooling"] == ATTENTION_POOLING_DEFAULTS
    assert FUSION_DEFAULTS["hidden_dim"] == 512 and FUSION_DEFAULTS["dropout"] == 0.2
    MODEL_DEFAULTS["fusion"]["dropout"] = 0.9  # a copy: mutating it must not change the model defaults
    assert build_model("fusion", [8], {"hidden_dim": 16, "attention_heads": 2, "lstm_hidden": 8,
                                       "classifier_hidden": 8}).bilstm.dropout == 0.2


# --- padding invariance ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
@pytest.mark.parametrize("dims", INPUT_DIMS)
@pytest.mark.parametrize("pad_value", ["zeros", "noise"])
def test_logits_do_not_depend_on_batch_mates(kind, dims, pad_value):
    lengths = [1, 180, 9, 57, 2]
    model = small_model(kind, dims).eval()
    inputs, lens = make_batch(dims, lengths, max_len=200, pad_value=pad_value)
    with torch.no_grad():
        batched = model(inputs, lens)
        for b, n in enumerate(lengths):
            alone = model([x[b : b + 1, :n] for x in inputs], lens[b : b + 1])
            torch.testing.assert_close(alone[0], batched[b], atol=1e-5, rtol=1e-5)
    assert batched.shape == (len(lengths), 6)


def textbook_attention_pooling(model, inputs, lengths, groups=None):
    """The step-by-step form of DeepLocPro's head, from the benchmark that times the two forms."""
    sys.path[:0] = [str(REPO / "benchmarks")]
    try:
        from attention_pooling import step_by_step_logits
    finally:
        del sys.path[:1]
    return step_by_step_logits(model, inputs, lengths, groups)


@pytest.mark.parametrize("n_groups", [0, 3])
def test_attention_pooling_folds_the_norms_affine_without_changing_the_function(n_groups):
    """The model folds LayerNorm's gain and bias into the score and the pooled vector (faster);
    with a non-trivial gain and bias, logits and every parameter's gradient must match the
    step-by-step formulation, with and without the organism group."""
    dims, lengths = (20, 12), [1, 30, 7, 19]
    model = small_model("attention_pooling", dims, n_groups=n_groups).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.norm.weight.copy_(torch.randn(32, generator=gen) * 2)
        model.norm.bias.copy_(torch.randn(32, generator=gen))
        model.score.bias.fill_(0.7)
    inputs, lens = make_batch(dims, lengths, pad_value="noise")
    groups = torch.tensor([0, 2, 1, 2]) if n_groups else None
    got, expected = model(inputs, lens, groups), textbook_attention_pooling(model, inputs, lens, groups)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert got.abs().max() > 0.1  # not a trivially small output
    grads = {}
    for out in (got, expected):
        model.zero_grad()
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads[len(grads)] = {name: p.grad.clone() for name, p in model.named_parameters()}
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4, msg=name)
    assert grads[0]["norm.weight"].abs().max() > 1e-3
    # Under bf16 autocast (training.precision: bf16) both forms round alike: within bf16's precision
    # of each other and of the fp32 logits.
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        folded, stepwise = model(inputs, lens, groups).float(), textbook_attention_pooling(model, inputs, lens, groups).float()
    torch.testing.assert_close(folded, stepwise, atol=0.05, rtol=0.02)
    torch.testing.assert_close(folded, got.detach(), atol=0.05, rtol=0.02)


def test_study_size_fusion_is_padding_invariant():
    model = build_model("fusion", [1280, 1024], {}).eval()
    lengths = [1, 150, 12]
    inputs, lens = make_batch((1280, 1024), lengths, max_len=160)
    with torch.no_grad():
        batched = model(inputs, lens)
        for b, n in enumerate(lengths):
            alone = model([x[b : b + 1, :n] for x in inputs], lens[b : b + 1])
            torch.testing.assert_close(alone[0], batched[b], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_all_length_one_batch(kind):
    model = small_model(kind, (20, 12)).eval()
    inputs, lens = make_batch((20, 12), [1, 1, 1])
    with torch.no_grad():
        out = model(inputs, lens)
    assert out.shape == (3, 6) and torch.isfinite(out).all()


def test_masked_softmax_gives_padding_exactly_zero_weight():
    mask = length_mask(torch.tensor([3, 1]), 5)
    assert mask.tolist() == [[True, True, True, False, False], [True, False, False, False, False]]
    weights = masked_softmax(torch.randn(2, 5) * 10, mask)
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert weights[1, 0] == 1


# --- organism group option ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_group_input(kind):
    dims = (20, 12)
    plain = small_model(kind, dims)
    grouped = small_model(kind, dims, n_groups=3).eval()
    group_dim = MODEL_DEFAULTS[kind]["group_dim"]
    first_hidden = SMALL[kind]["hidden_dim"]
    # The embedding table plus the extra input columns of the classifier's first Linear, nothing else.
    assert count_parameters(grouped) - count_parameters(plain) == 3 * group_dim + group_dim * first_hidden
    assert count_parameters(small_model(kind, dims, n_groups=0)) == count_parameters(plain)

    inputs, lens = make_batch(dims, [30, 5])
    with torch.no_grad():
        a = grouped(inputs, lens, torch.tensor([0, 0]))
        b = grouped(inputs, lens, torch.tensor([2, 0]))
    assert a.shape == b.shape == (2, 6)
    assert not torch.allclose(a[0], b[0])  # the group changes the prediction ...
    torch.testing.assert_close(a[1], b[1])  # ... of that protein only

    with pytest.raises(ValueError, match="groups"):
        grouped(inputs, lens)
    with pytest.raises(ValueError, match="group indices"):
        grouped(inputs, lens, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="n_groups=0"):
        plain(inputs, lens, torch.tensor([0, 1]))


# --- configuration errors ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_unknown_hyperparameter_is_an_input_error_naming_it(kind):
    with pytest.raises(InputError, match="'hiden_dim'"):
        build_model(kind, [20], {"hiden_dim": 64})


@pytest.mark.parametrize(
    "kind, params, fragment",
    [
        ("fusion", {"dropout": 1.0}, "'dropout'"),
        ("fusion", {"lstm_layers": 0}, "'lstm_layers'"),
        ("fusion", {"hidden_dim": 64.0}, "'hidden_dim'"),
        ("fusion", {"pool_heads": True}, "'pool_heads'"),
        ("fusion", {"hidden_dim": 100}, "divisible by attention_heads"),
        ("fusion", {"lstm_hidden": 10, "pool_heads": 8}, "divisible by pool_heads"),
        ("attention_pooling", {"dropout": "0.1"}, "'dropout'"),
    ],
)
def test_bad_hyperparameter_values(kind, params, fragment):
    with pytest.raises(InputError, match=fragment):
        build_model(kind, [20], params)


def test_a_number_given_as_text_says_where_text_comes_from():
    # snakemake --config 'experiments={"x": {"params": {"hidden_dim": 128}}}' delivers '128'
    with pytest.raises(InputError, match=r"got '128' \(text, not a number: .*--configfile\)"):
        build_model("fusion", [20], {"hidden_dim": "128"})
    with pytest.raises(InputError) as err:
        build_model("fusion", [20], {"hidden_dim": "large"})
    assert "text, not a number" not in str(err.value)


def test_bad_kind_and_dims():
    with pytest.raises(InputError, match="unknown model kind 'cnn'"):
        build_model("cnn", [20], {})
    with pytest.raises(InputError, match="input_dims"):
        build_model("fusion", [], {})
    with pytest.raises(InputError, match="n_groups"):
        build_model("fusion", [20], SMALL["fusion"], n_groups=-1)
    assert count_parameters(build_model("attention_pooling", [20], {"dropout": 0})) > 0  # int accepted for float


def test_bad_forward_inputs_fail_clearly():
    model = small_model("fusion", (20, 12)).eval()
    inputs, lens = make_batch((20, 12), [10, 4])
    with pytest.raises(ValueError, match="lengths"):
        model(inputs, torch.tensor([10, 0]))
    with pytest.raises(ValueError, match="lengths"):
        model(inputs, torch.tensor([11, 4]))
    with pytest.raises(ValueError, match="input 1"):
        model([inputs[0], inputs[1][..., :5]], lens)
    with pytest.raises(ValueError, match="expected 2 input tensors"):
        model(inputs[:1], lens)


# --- determinism, training, precision -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_fixed_seed_is_deterministic(kind):
    inputs, lens = make_batch((20, 12), [40, 7, 1])
    outs = []
    for _ in range(2):
        model = small_model(kind, (20, 12), seed=123).train()  # dropout active: seeded too
        torch.manual_seed(7)
        outs.append(model(inputs, lens))
    torch.testing.assert_close(outs[0], outs[1], atol=0, rtol=0)
    other = small_model(kind, (20, 12), seed=124).train()
    torch.manual_seed(7)
    assert not torch.allclose(other(inputs, lens), outs[0])


@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
@pytest.mark.parametrize("dims", INPUT_DIMS)
def test_gradients_reach_every_parameter(kind, dims):
    model = small_model(kind, dims, n_groups=3).train()
    inputs, lens = make_batch(dims, [25, 3, 1, 12])
    logits = model(inputs, lens, torch.tensor([0, 1, 2, 1]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 5])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if name == "score.bias":
            # The attention score's bias shifts every position alike, and a softmax over positions
            # ignores a shift: its gradient is zero but for rounding (0 or ~1e-9, by platform).
            assert p.grad.abs().sum() < 1e-6, name
        else:
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_bfloat16_autocast_runs_and_stays_close(kind):
    model = small_model(kind, (20, 12)).eval()
    inputs, lens = make_batch((20, 12), [90, 33, 1])
    with torch.no_grad():
        reference = model(inputs, lens)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(inputs, lens)
    assert torch.isfinite(low).all()
    torch.testing.assert_close(low.float(), reference, atol=0.05, rtol=0.05)
    # Training under autocast: the backward pass works and gives finite gradients.
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(inputs, lens).float().logsumexp(-1).sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# --- the unpacked BiLSTM equals the study's packed nn.LSTM ----------------------------------

def test_bilstm_equals_packed_bidirectional_lstm_with_the_same_weights():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from locfusion.models.fusion import BiLSTM, reverse_within_lengths

    torch.manual_seed(0)
    ours = BiLSTM(12, 7, layers=2, dropout=0.2).eval()
    packed = torch.nn.LSTM(12, 7, num_layers=2, bidirectional=True, batch_first=True).eval()
    with torch.no_grad():
        for i, (ahead, behind) in enumerate(ours.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(packed, f"{name}_l{i}").copy_(getattr(ahead, f"{name}_l0"))
                getattr(packed, f"{name}_l{i}_reverse").copy_(getattr(behind, f"{name}_l0"))
    lengths = torch.tensor([5, 11, 1, 8])
    x = torch.randn(4, 11, 12) * length_mask_3d(lengths, 11)
    with torch.no_grad():
        expected, _ = packed(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        expected, _ = pad_packed_sequence(expected, batch_first=True, total_length=11)
        got = ours(x, lengths)
    torch.testing.assert_close(got, ours.norm(expected), rtol=1e-5, atol=1e-5)
    assert got.shape == (4, 11, 14)
    # reversal within lengths is its own inverse and leaves padding where it was
    assert torch.equal(reverse_within_lengths(reverse_within_lengths(x, lengths), lengths), x)
    assert torch.equal(reverse_within_lengths(x, lengths)[0, :5], x[0, :5].flip(0))
    assert torch.equal(reverse_within_lengths(x, lengths)[0, 5:], x[0, 5:])


def length_mask_3d(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return (torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1).float()


# --- input standardization (beyond the study; off by default) -------------------------------

def test_standardized_inputs_add_no_parameters_and_are_off_by_default():
    assert FUSION_DEFAULTS["standardize_inputs"] is False
    plain = small_model("fusion", (20, 12))
    scaled = small_model("fusion", (20, 12), standardize_inputs=True)
    assert plain.input_scaling is None
    assert count_parameters(scaled) == count_parameters(plain)
    assert {"input_scaling.0.mean", "input_scaling.1.std"} <= set(scaled.state_dict())


def test_fitted_standardization_makes_logits_invariant_to_each_features_scale_and_offset():
    """Fitted on the data it sees, the model gives the same logits for x and a*x+b (per feature):
    small-scale hand-made features reach the projections at unit scale whatever their units."""
    dims = (20, 12)
    inputs, lengths = make_batch(dims, [9, 5, 7])
    gen = torch.Generator().manual_seed(1)
    scales = [torch.rand(d, generator=gen) * 0.3 + 0.05 for d in dims]
    offsets = [torch.randn(d, generator=gen) for d in dims]
    moved = [x * a + b for x, a, b in zip(inputs, scales, offsets)]

    def fitted_logits(xs):
        model = small_model("fusion", dims, standardize_inputs=True).eval()
        model.fit_input_statistics([[x[i, : int(n)] for i, n in enumerate(lengths)] for x in xs])
        with torch.no_grad():
            return model(xs, lengths)

    assert torch.allclose(fitted_logits(inputs), fitted_logits(moved), atol=1e-4)
    unfitted = small_model("fusion", dims, standardize_inputs=True).eval()
    with torch.no_grad():  # unfitted it is the identity: the two inputs differ
        assert not torch.allclose(unfitted(inputs, lengths), unfitted(moved, lengths), atol=1e-2)


def test_input_statistics_are_each_features_mean_and_std_over_residues():
    from locfusion.models.layers import InputStandardization

    proteins = [torch.tensor([[1.0, 5.0], [3.0, 5.0]]), torch.tensor([[5.0, 5.0]])]
    scaling = InputStandardization(2)
    scaling.fit(proteins)
    assert torch.allclose(scaling.mean, torch.tensor([3.0, 5.0]))
    assert torch.allclose(scaling.std, torch.tensor([(8 / 3) ** 0.5, 1e-3]))  # a constant feature: min_std
    with pytest.raises(ValueError, match="no residues"):
        scaling.fit([])
