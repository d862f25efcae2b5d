"""Config validation: per-experiment training overrides, grids, seeds and declared comparisons."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from locfusion.config import validate_config
from locfusion.cv import run_experiment, run_training
from locfusion.embedders import available_kinds, build_embedder
from locfusion.errors import InputError
from workflow_utils import merge_configs as merged
from workflow_utils import rule_blocks

REPO = Path(__file__).resolve().parent.parent
OFFLINE = REPO / "resources" / "offline_study"


def study_config(**training_overrides: object) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["attention_pooling"]["training"] = dict(training_overrides)
    return config


def test_experiment_overrides_only_its_own_training_settings() -> None:
    config = validate_config(study_config(precision="bf16", lr=3e-4))
    # seeds: one per job; optional settings left off (null): no part of a job's params
    expected = {k: v for k, v in config["training"].items() if k != "seeds" and v is not None}
    assert config["training"]["train_max_length"] is None
    assert run_training(config, "attention_pooling", 42, 0) == {**expected, "precision": "bf16", "lr": 3e-4, "seed": 42}
    assert run_training(config, "fusion", 7, 0) == {**expected, "seed": 7}
    assert config["training"]["precision"] == "fp32"  # the global section is untouched


def test_a_training_crop_is_a_setting_of_the_runs_that_set_it() -> None:
    config = validate_config(study_config(train_max_length=500))
    assert run_training(config, "attention_pooling", 42, 0)["train_max_length"] == 500
    assert "train_max_length" not in run_training(config, "fusion", 42, 0)
    with pytest.raises(InputError, match=r"'experiments\.attention_pooling\.training\.train_max_length': 1 is less than"):
        validate_config(study_config(train_max_length=1))


def test_experiments_without_overrides_get_empty_mappings() -> None:
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert all(e["training"] == {} and e["grid"] == {} for e in config["experiments"].values())
    assert config["training"]["seeds"] == [42] and config["cv"] == "single"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "fp8"}, r"'experiments\.attention_pooling\.training\.precision': 'fp8' is not one of"),
        ({"epochs": 0}, r"'experiments\.attention_pooling\.training\.epochs': 0 is less than the minimum of 1"),
        ({"learning_rate": 1e-3}, r"'experiments\.attention_pooling\.training\.learning_rate': not a training setting"),
        ({"threads": 4}, r"'experiments\.attention_pooling\.training\.threads': set for all experiments"),
        ({"seeds": [1]}, r"'experiments\.attention_pooling\.training\.seeds': set for all experiments"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        validate_config(copy.deepcopy(study_config(**overrides)))
    assert "\n" not in str(err.value)


def test_grid_points_override_training_and_params() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["fusion"]["grid"] = {"training.precision": ["fp32", "bf16"], "params.hidden_dim": [256, 512]}
    config = validate_config(config)
    # key order, last key fastest: (fp32, 256), (fp32, 512), (bf16, 256), (bf16, 512)
    assert run_training(config, "fusion", 42, 2)["precision"] == "bf16"
    assert run_experiment(config, "fusion", 2)["params"] == {"hidden_dim": 256}
    assert run_experiment(config, "fusion", 1)["params"] == {"hidden_dim": 512}
    with pytest.raises(InputError, match="grid point 4 outside 0-3"):
        run_training(config, "fusion", 42, 4)


def test_an_experiments_priority_schedules_but_does_not_change_its_runs() -> None:
    """`priority` orders rule train's jobs; a run's params (its identity for reruns) stay as without it."""
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    before = run_experiment(config, "fusion", 0)
    config["experiments"]["fusion"]["priority"] = 2
    assert run_experiment(validate_config(config), "fusion", 0) == before
    # Nor what the rules that read whole specs get as params (a params change would rerun them).
    blocks = rule_blocks()
    for rule in ("compare_experiments", "export_bundle", "extra_learning_curve"):
        assert "experiment_identity(" in blocks[rule], rule
    config["experiments"]["fusion"]["priority"] = -1
    with pytest.raises(InputError, match="experiments.fusion.priority"):
        validate_config(config)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"training.precision": ["fp8"]}, r"'experiments\.fusion\.grid\.training\.precision': 'fp8' is not one of"),
        ({"training.threads": [2]}, r"'experiments\.fusion\.grid\.training\.threads': set for all experiments"),
        ({"params.hiden_dim": [8]}, r"'experiments\.fusion\.grid\.params\.hiden_dim': model 'fusion': unknown hyperparameter"),
        ({"params.hidden_dim": [0]}, r"'experiments\.fusion\.grid\.params\.hidden_dim': .*must be an integer >= 1"),
        ({"lr": [1e-3]}, r"config key 'experiments\.fusion\.grid'"),
        ({"training.lr": []}, r"config key 'experiments\.fusion\.grid\.training\.lr'"),
    ],
)
def test_bad_grids_name_the_key(grid: dict, message: str) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["fusion"]["grid"] = grid
    with pytest.raises(InputError, match=message) as err:
        validate_config(config)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("comparison", "message"),
    [
        ({"name": "x", "a": "fusion", "b": "fusion_typo"}, r"'comparisons\.1\.b': 'fusion_typo' is neither an experiment"),
        ({"name": "x", "a": "DeepLocPro", "b": "fusion"}, r"'comparisons\.1\.a': 'DeepLocPro' is neither"),
        ({"name": "x", "a": "fusion", "b": "fusion"}, r"'comparisons\.1': compares 'fusion' with itself"),
        ({"name": "x", "a": "fusion"}, r"'comparisons\.1\.b': 'b' is a required property"),
    ],
)
def test_declared_comparisons_are_checked(comparison: dict, message: str) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["comparisons"].append(comparison)
    with pytest.raises(InputError, match=message):
        validate_config(config)


def test_deeplocpro_is_a_peer_once_its_predictions_are_configured() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["evaluation"]["deeplocpro_predictions"] = "somewhere"
    config["comparisons"].append({"name": "peer", "a": "fusion", "b": "DeepLocPro"})
    assert validate_config(config)["comparisons"][-1]["b"] == "DeepLocPro"
    config["comparisons"].append({"name": "peer", "a": "attention_pooling", "b": "DeepLocPro"})
    with pytest.raises(InputError, match=r"'comparisons\.2\.name': 'peer' declared twice"):
        validate_config(config)


def test_seeds_must_be_distinct_integers() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["training"]["seeds"] = [42, 42]
    with pytest.raises(InputError, match=r"'training\.seeds': .*non-unique"):
        validate_config(config)


def test_offline_configs_are_valid_and_declare_the_ablations() -> None:
    core = validate_config(merged(OFFLINE / "config.yaml"))
    seeds = validate_config(merged(OFFLINE / "config.yaml", OFFLINE / "seeds.yaml"))
    # the core set fits the time budget: one seed; the seeds overlay runs the same experiments with 3
    assert core["training"]["seeds"] == [42] and seeds["training"]["seeds"] == [42, 43, 44]
    experiments = seeds["experiments"]
    # the ablations separate inputs from architecture: same architecture on one input, same inputs in the baseline head
    assert experiments["fusion_unirep"]["params"] == experiments["fusion"]["params"]
    assert experiments["fusion_unirep"]["embedders"] == ["unirep1900"]
    assert experiments["attention_pooling_concat"]["embedders"] == experiments["fusion"]["embedders"]
    assert core["experiments"]["fusion"] == experiments["fusion"]  # the seeds overlay reuses the core's runs
    pairs = {(c["a"], c["b"]) for c in core["comparisons"]}
    assert {("fusion", "attention_pooling_concat")} | {(name, "DeepLocPro") for name in core["experiments"]} <= pairs
    seeds_pairs = {(c["a"], c["b"]) for c in seeds["comparisons"]}
    assert ("fusion", "fusion_unirep") in seeds_pairs and ("fusion_unirep", "DeepLocPro") in seeds_pairs
    # snakemake replaces lists when merging: each overlay must repeat the core's comparisons
    for overlay in ("seeds.yaml", "psortb.yaml", "psortb_extra.yaml", "near.yaml"):
        config = validate_config(merged(OFFLINE / "config.yaml", OFFLINE / overlay))
        assert core["comparisons"] == config["comparisons"][: len(core["comparisons"])]
    assert set(core["experiments"]) < set(seeds["experiments"])


def test_nested_precision_overlay_grids_fusion_only() -> None:
    config = validate_config(merged(OFFLINE / "config.yaml", OFFLINE / "precision_nested.yaml"))
    assert config["cv"] == "nested" and config["training"]["seeds"] == [42]
    assert config["experiments"]["fusion"]["grid"] == {"training.precision": ["fp32", "bf16"]}
    assert config["training"]["epochs"] == 50  # the rest of training: is merged, not replaced
    assert [run_training(config, "fusion", 42, g)["precision"] for g in (0, 1)] == ["fp32", "bf16"]


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


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "physchem", "scals": ["kd"]},
     r"embedder 'typo': unknown key 'scals' for kind 'physchem' \(valid: kind, scales, tokens_per_batch\)"),
    ({"kind": "profile", "window": [9], "termin": [10]},
     r"unknown keys 'termin', 'window' for kind 'profile' \(valid: kind, moments, scales, termini, tokens_per_batch, windows\)"),
    ({"kind": "unirep", "model": "unirep1900"}, r"unknown key 'model' for kind 'unirep' \(valid: .*size.*weights\)"),
])
def test_a_misspelled_embedder_key_is_an_error_naming_the_valid_ones(spec: dict, message: str) -> None:
    """A typo in an embedder spec must not run the embedder with its defaults."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["embedders"]["typo"] = spec
    with pytest.raises(InputError, match=message):
        validate_config(config)
    with pytest.raises(InputError, match=message):  # and so does building it outside the workflow
        build_embedder("typo", spec)


def test_the_schema_takes_embedder_and_model_kinds_from_the_registries() -> None:
    """A new embedder or model needs no schema edit: the YAML lists no kinds, load_schema fills them."""
    from locfusion.config import load_schema
    from locfusion.models import registered_kinds

    raw = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    schema = load_schema()["properties"]
    kind = ("embedders", "additionalProperties", "properties", "kind")
    model = ("experiments", "additionalProperties", "properties", "model")
    for path in (kind, model):
        node = raw
        for key in path:
            node = node[key]
        assert "enum" not in node, path
    assert schema["embedders"]["additionalProperties"]["properties"]["kind"]["enum"] == available_kinds()
    assert schema["experiments"]["additionalProperties"]["properties"]["model"]["enum"] == list(registered_kinds())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"]["fusion"]["model"] = "transformer"
    with pytest.raises(InputError, match=r"config key 'experiments.fusion.model': 'transformer' is not one of \['attention_pooling', 'fusion'\]"):
        validate_config(config)


@pytest.mark.parametrize("moments", [[[270, 9]], [[100, 10]], [[100]]])
def test_bad_profile_moments_fail_config_validation(moments: list) -> None:
    """Caught before any job runs, not inside each embed job."""
    config = yaml.safe_load((REPO / "resources/demo/config.yaml").read_text())
    name = next(n for n, spec in config["embedders"].items() if spec["kind"] == "profile")
    config["embedders"][name]["moments"] = moments
    with pytest.raises(InputError, match=rf"config key 'embedders\.{name}\.moments"):
        validate_config(config)


def test_settings_take_their_defaults_from_the_schema() -> None:
    """One home for defaults: the schema. The dataclasses read it, so they cannot drift apart."""
    import yaml

    from locfusion.config import SCHEMA_PATH
    from locfusion.dataset import FilterSettings
    from locfusion.homology import AuditSettings
    from locfusion.sequence import FILTER_LONG_POLICIES
    from locfusion.training import TrainingSettings

    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]
    for section, settings in (("training", TrainingSettings()), ("filter", FilterSettings()), ("audit", AuditSettings())):
        for key, value in vars(settings).items():
            expected = schema[section]["properties"]["seeds" if key == "seed" else key]["default"]
            assert value == (expected[0] if key == "seed" else expected), (section, key)
    assert tuple(schema["filter"]["properties"]["long_policy"]["enum"]) == FILTER_LONG_POLICIES
