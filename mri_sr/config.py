"""Configuration: YAML loading, validation against the schema, defaults."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mri_sr.errors import MriSrError


def schema() -> dict[str, Any]:
    """The configuration JSON schema (``mri_sr/config.schema.yaml``), with the classical
    methods filled in from :data:`mri_sr.resample.CLASSICAL`."""
    from mri_sr.resample import CLASSICAL

    loaded = yaml.safe_load(resources.files("mri_sr").joinpath("config.schema.yaml").read_text())
    loaded["properties"]["evaluation"]["properties"]["baselines"]["items"]["enum"] = list(CLASSICAL)
    return loaded


def _with_defaults(cls):
    """A validator class that also fills in each property's ``default``."""
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sch):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = yaml.safe_load(yaml.safe_dump(sub["default"]))
        yield from validate_properties(validator, properties, instance, sch)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def make_validator(schema_dict: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for ``schema_dict`` that fills in defaults while validating."""
    return _Validator(schema_dict)


def raise_first_error(validator: jsonschema.protocols.Validator, config: Any, name: str) -> None:
    """Fill defaults into ``config`` and raise the first schema violation as one line.

    Raises:
        MriSrError: naming ``name`` (the file) and the offending key (unknown keys included).
    """
    if not isinstance(config, dict):
        raise MriSrError(f"{name}: the configuration must be a mapping of keys to values")
    # Defaults are filled in while validating, parents before their children.
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            key = ".".join([where, extra[0]] if where else [extra[0]])
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            raise MriSrError(f"{name}: unknown config key '{key}' (allowed here: {allowed})")
        raise MriSrError(f"{name}: config key '{where or '<top>'}': {err.message}")


def validate_config(config: dict[str, Any], *, name: str = "config") -> dict[str, Any]:
    """Validate the workflow config in place, filling defaults; return it.

    Raises:
        MriSrError: one line naming the file and the offending key (unknown keys included), or
            percentiles of ``data.normalisation`` not in increasing order.
    """
    raise_first_error(make_validator(schema()), config, name)
    norm = config["data"]["normalisation"]
    if not norm["low_percentile"] < norm["high_percentile"]:
        raise MriSrError(f"{name}: data.normalisation.low_percentile ({norm['low_percentile']:g}) must be below "
                         f"high_percentile ({norm['high_percentile']:g})")
    return config


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content.

    Raises:
        MriSrError: unreadable file, invalid YAML, or an empty (or comments-only) file, naming the file.
    """
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text())
        if content is None:
            raise MriSrError(f"{path}: the config is empty (no keys); give a config file with its settings")
        return content
    except OSError as exc:
        raise MriSrError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise MriSrError(f"{path}: not a text file (a YAML config was expected)") from None
    except yaml.YAMLError as exc:
        raise MriSrError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file, validate it and fill defaults."""
    return validate_config(read_yaml(path), name=str(path))


def write_section(config: dict[str, Any], keys: list[str] | None, path: str | Path) -> str:
    """Write ``{key: config[key] for key in keys}`` (all of ``config`` when ``keys`` is None)
    as YAML, only if the content changed.

    The workflow gives each rule only the config it depends on, so editing one section
    does not make unrelated outputs out of date (the file's mtime changes only with it).

    Returns:
        ``path`` as a string.
    """
    path = Path(path)
    text = yaml.safe_dump(config if keys is None else {k: config[k] for k in keys}, sort_keys=True)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def scan_section(config: dict[str, Any], scan: dict[str, Any]) -> dict[str, Any]:
    """The ``prepare`` config of one cross-scan test set (``evaluation.scans`` entry).

    The scan's sources replace ``data.sources``; axis, normalisation and degradation stay those
    of the training data, and every slice goes to the test split.
    """
    data = {**config["data"], "sources": scan["sources"], "split": {**config["data"]["split"], "only": "test"}}
    return {"seed": config["seed"], "data": data}
