"""Config validation: per-experiment training overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from locfusion.config import experiment_training, validate_config
from locfusion.errors import InputError

REPO = Path(__file__).resolve().parent.parent


def study_config(**training_overrides: object) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["attention_pooling"]["training"] = dict(training_overrides)
    return config


def test_experiment_overrides_only_its_own_training_settings() -> None:
    config = validate_config(study_config(precision="bf16", lr=3e-4))
    assert experiment_training(config, "attention_pooling") == {**config["training"], "precision": "bf16", "lr": 3e-4}
    assert experiment_training(config, "fusion") == config["training"]
    assert config["training"]["precision"] == "fp32"  # the global section is untouched


def test_experiments_without_overrides_get_an_empty_mapping() -> None:
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert all(e["training"] == {} for e in config["experiments"].values())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "fp8"}, r"'experiments\.attention_pooling\.training\.precision': 'fp8' is not one of"),
        ({"epochs": 0}, r"'experiments\.attention_pooling\.training\.epochs': 0 is less than the minimum of 1"),
        ({"learning_rate": 1e-3}, r"'experiments\.attention_pooling\.training\.learning_rate': not a training setting"),
        ({"threads": 4}, r"'experiments\.attention_pooling\.training\.threads': resources are set for all"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        validate_config(copy.deepcopy(study_config(**overrides)))
    assert "\n" not in str(err.value)


def test_offline_bf16_twin_is_fusion_but_for_its_precision() -> None:
    """resources/offline_study/fusion_bf16.yaml, merged as snakemake merges --configfile files."""
    offline = REPO / "resources" / "offline_study"
    config = yaml.safe_load((offline / "config.yaml").read_text())
    twin = yaml.safe_load((offline / "fusion_bf16.yaml").read_text())
    config["experiments"].update(twin["experiments"])
    config = validate_config(config)
    fusion, bf16 = config["experiments"]["fusion"], config["experiments"]["fusion_bf16"]
    assert {**bf16, "training": {}, "compare_with": None} == {**fusion, "compare_with": None}
    assert bf16["compare_with"] == "fusion"
    assert experiment_training(config, "fusion_bf16") == {**config["training"], "precision": "bf16"}
    assert config["training"]["precision"] == "fp32"  # otherwise the twin compares nothing


@pytest.mark.parametrize("reference", ["fusion_typo", "attention_pooling"])
def test_compare_with_must_name_another_experiment(reference: str) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["attention_pooling"]["compare_with"] = reference
    with pytest.raises(InputError, match=rf"'experiments\.attention_pooling\.compare_with': '{reference}' is not another"):
        validate_config(config)


def test_a_number_given_as_text_says_where_text_comes_from() -> None:
    # snakemake --config 'experiments={"attention_pooling": {"training": {"epochs": 5}}}' delivers '5'
    with pytest.raises(InputError, match=r"'5' is not of type 'integer' \(text, not a number: .*--configfile\)"):
        validate_config(study_config(epochs="5"))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["training"]["epochs"] = "50"
    with pytest.raises(InputError, match=r"config key 'training\.epochs': .*\(text, not a number"):
        validate_config(config)


def test_demo_config_and_its_profile_embedder_validate() -> None:
    """The demo's `profile` embedder passes the schema, which still refuses a bad window per key."""
    config = validate_config(yaml.safe_load((REPO / "resources/demo/config.yaml").read_text()))
    assert any(spec["kind"] == "profile" for spec in config["embedders"].values())
    bad = yaml.safe_load((REPO / "resources/demo/config.yaml").read_text())
    name = next(n for n, spec in bad["embedders"].items() if spec["kind"] == "profile")
    bad["embedders"][name]["windows"] = [0]
    with pytest.raises(InputError, match=rf"'embedders\.{name}\.windows\.0': 0 is less than the minimum of 1"):
        validate_config(bad)
