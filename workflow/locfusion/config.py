"""Configuration: JSON-schema validation with defaults, and cross-key checks.

The Snakefile validates every config through `validate_config` before any rule
runs, so a mistake is one line naming the key. The schema (workflow/schemas/)
is also the one home of defaults: the settings dataclasses read theirs from it
(`schema_default`), and the embedder and model kinds it accepts come from their
registries (`load_schema`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .classes import DEEPLOCPRO, PSORTB
from .embedders import available_kinds, check_spec_keys
from .errors import InputError, number_as_text_hint

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


def schema_default(section: str, key: str, item: int | None = None) -> Any:
    """A dataclass `default_factory` for one schema default, read when first needed, not at import.

    Lazy so that importing the library (e.g. `locfusion predict` from an installed package,
    which needs no config) does not need the schema file.
    """
    def factory() -> Any:
        value = schema_defaults(section)[key]
        return value[item] if item is not None else value

    return factory


@functools.lru_cache(maxsize=None)
def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's default for each key of a config section.

    The schema is the one home of defaults: the settings dataclasses (training,
    filter, audit) take theirs from here, so a default changed in the schema
    changes the library's too, and the two cannot disagree.
    """
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    properties = schema["properties"][section]["properties"]
    return {key: copy.deepcopy(sub["default"]) for key, sub in properties.items() if "default" in sub}


def _with_defaults(validator_class: type[jsonschema.protocols.Validator]) -> type[jsonschema.protocols.Validator]:
    """A validator that also fills `default` values (as snakemake.utils.validate does)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema, with the embedder kinds and model kinds filled in from their registries.

    The YAML file lists neither: a new embedder or model is its module plus its one
    registration line, and the schema accepts it (no torch is imported to list them).
    """
    from .models.registry import available_models

    with open(path) as handle:
        schema = yaml.safe_load(handle)
    properties = schema["properties"]
    properties["embedders"]["additionalProperties"]["properties"]["kind"]["enum"] = available_kinds()
    properties["experiments"]["additionalProperties"]["properties"]["model"]["enum"] = list(available_models())
    return schema


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        parts.append(missing)
    if error.validator == "additionalProperties" and "'" in error.message:
        parts.append(error.message.split("'")[1])
    return ".".join(parts) or "(top level)"


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """Validate `config` in place (filling defaults) and return it; raise InputError naming the key."""
    schema = load_schema(schema_path)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        message = error.message if len(error.message) < 200 else error.message[:200] + "..."
        raise InputError(f"config key '{_key_path(error)}': {message}{number_as_text_hint(error.instance)}")
    _check_cross_references(config)
    _check_training_overrides(config, schema)
    return config


# Scheduler resources stay global: a rule's threads, memory and runtime come from `training:`;
# the seeds too, since every experiment must be trained with the same seeds to be compared.
_NOT_OVERRIDABLE = ("threads", "mem_mb", "runtime", "seeds")


def _check_training_value(where: str, key: str, value: Any, training_schema: Mapping[str, Any]) -> None:
    if key in _NOT_OVERRIDABLE:
        raise InputError(f"config key '{where}': set for all experiments under training.{key}")
    if key not in training_schema["properties"]:
        raise InputError(f"config key '{where}': not a training setting "
                         f"(known: {', '.join(sorted(set(training_schema['properties']) - set(_NOT_OVERRIDABLE)))})")
    errors = list(jsonschema.Draft7Validator(training_schema["properties"][key]).iter_errors(value))
    if errors:
        raise InputError(f"config key '{where}': {errors[0].message}{number_as_text_hint(value)}")


def _check_training_overrides(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Each override (experiments.<name>.training, or a grid's training.*) must be a valid training setting;
    each grid `params.*` value a valid hyperparameter of the experiment's model."""
    training_schema = schema["properties"]["training"]
    for name, experiment in config["experiments"].items():
        for key, value in experiment.get("training", {}).items():
            _check_training_value(f"experiments.{name}.training.{key}", key, value, training_schema)
        for key, values in experiment.get("grid", {}).items():
            section, _, setting = key.partition(".")
            for value in values:
                where = f"experiments.{name}.grid.{key}"
                if section == "training":
                    _check_training_value(where, setting, value, training_schema)
                else:
                    from .models.registry import resolve_params  # imports torch: only for a params grid

                    try:
                        resolve_params(experiment["model"], {**experiment.get("params", {}), setting: value})
                    except InputError as exc:
                        raise InputError(f"config key '{where}': {exc}") from None


def _check_cross_references(config: dict[str, Any]) -> None:
    """Checks a JSON schema cannot express: names that must refer to each other."""
    embedders = config["embedders"]
    for name, spec in embedders.items():
        check_spec_keys(name, spec)
    for name, experiment in config["experiments"].items():
        for embedder in experiment["embedders"]:
            if embedder not in embedders:
                raise InputError(
                    f"config key 'experiments.{name}.embedders': unknown embedder '{embedder}' "
                    f"(defined: {', '.join(embedders)})"
                )
    known = list(config["experiments"]) + configured_peers(config)
    names = set()
    for i, comparison in enumerate(config.get("comparisons", [])):
        for side in ("a", "b"):
            if comparison[side] not in known:
                raise InputError(f"config key 'comparisons.{i}.{side}': '{comparison[side]}' is neither an experiment "
                                 f"nor a configured peer (known: {', '.join(known)})")
        if comparison["a"] == comparison["b"]:
            raise InputError(f"config key 'comparisons.{i}': compares '{comparison['a']}' with itself")
        if comparison["name"] in names:
            raise InputError(f"config key 'comparisons.{i}.name': '{comparison['name']}' declared twice")
        names.add(comparison["name"])
    if config["data"]["folds"] != "header" and config["evaluation"]["deeplocpro_predictions"]:
        # Its held-out predictions come from models trained on GraphPart's folds: scored on other
        # test folds they would be partly predictions on their own training proteins.
        raise InputError(
            "config key 'evaluation.deeplocpro_predictions': DeepLocPro's held-out predictions belong to "
            f"GraphPart's header folds, not to data.folds '{config['data']['folds']}'; set it to null"
        )
    filt = config["filter"]
    if filt["min_length"] > filt["max_length"]:
        raise InputError("config key 'filter.min_length': larger than filter.max_length")
    for name in list(embedders) + list(config["experiments"]):
        if not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"config name '{name}': use letters, digits, '_' or '-' only (it becomes a path)")


def configured_peers(config: Mapping[str, Any]) -> list[str]:
    """Published predictors this config scores beside its experiments (names as in the comparison tables)."""
    peers = []
    if config.get("evaluation", {}).get("deeplocpro_predictions"):
        peers.append(DEEPLOCPRO)
    if config.get("psortb", {}).get("enabled"):
        peers.append(PSORTB)
    return peers
