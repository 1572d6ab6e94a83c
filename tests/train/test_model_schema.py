"""model.schema.yaml knows every network and loss option, so a misspelt one is named with its file."""

from __future__ import annotations

import inspect
from importlib import resources

import yaml

from mri_sr.losses import LOSSES
from mri_sr.nets import NETWORKS

SCHEMA = yaml.safe_load(resources.files("mri_sr.train").joinpath("model.schema.yaml").read_text())


def parameters(cls) -> set[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind in kinds}


def test_network_schema_lists_every_type_and_constructor_option():
    network = SCHEMA["$defs"]["network"]["properties"]
    assert set(network["type"]["enum"]) == set(NETWORKS)
    assert set().union(*(parameters(cls) for cls in NETWORKS.values())) == set(network) - {"type"}


def test_loss_option_schema_lists_every_term_and_constructor_option():
    options = SCHEMA["properties"]["losses"]["properties"]["options"]["properties"]
    assert set(options) == set(LOSSES)
    from_data = {"degradation"}  # the trainer passes the prepared data's degradation, not the config
    for name, cls in LOSSES.items():
        assert set(options[name].get("properties", {})) == parameters(cls) - from_data, name
