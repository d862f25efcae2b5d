"""Which pairs of models the comparison puts a paired bootstrap CI on."""

from __future__ import annotations

from locfusion.comparison import DEEPLOCPRO, comparison_pairs

EXPERIMENTS = {
    "fusion": {"model": "fusion", "embedders": ["a", "b"]},
    "single_a": {"model": "attention_pooling", "embedders": ["a"]},
    "single_b": {"model": "attention_pooling", "embedders": ["b"]},
}
MCC = {"fusion": 0.5, "single_a": 0.3, "single_b": 0.4, "fusion_fp32": 0.5}


def test_every_experiment_vs_deeplocpro_and_fusion_vs_the_best_single() -> None:
    pairs = comparison_pairs(EXPERIMENTS, MCC, has_deeplocpro=True)
    assert [(a, b) for a, b, _ in pairs] == [
        ("fusion", DEEPLOCPRO), ("single_a", DEEPLOCPRO), ("single_b", DEEPLOCPRO), ("fusion", "single_b"),
    ]
    assert comparison_pairs(EXPERIMENTS, MCC, has_deeplocpro=False) == [pairs[-1]]


def test_a_variant_is_compared_with_the_experiment_it_names() -> None:
    variant = {"model": "fusion", "embedders": ["a", "b"], "training": {"precision": "fp32"}, "compare_with": "fusion"}
    pairs = comparison_pairs({**EXPERIMENTS, "fusion_fp32": variant}, MCC, has_deeplocpro=False)
    assert ("fusion_fp32", "fusion", "variant vs its reference") in pairs
    assert ("fusion_fp32", "single_b", "fusion vs best single-embedder baseline") in pairs
