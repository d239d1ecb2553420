"""babybias.helpers.Registry, the one type of every name → object table, and the tables that use it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from babybias.helpers import Registry, UnknownNameError


@dataclass
class Thing:
    name: str
    parts: list[str] = field(default_factory=list)


def test_register_look_up_and_mapping_behaviour():
    things = Registry("thing", {"b": Thing("b")})
    things.register(Thing("a"))                          # the name defaults to .name
    things.register(Thing("x"), "c")                     # or is given
    assert isinstance(things, Mapping)
    assert things["a"].name == "a" and things["c"].name == "x"
    assert "a" in things and "z" not in things and len(things) == 3
    assert list(things) == ["b", "a", "c"]               # registration order, as a dict
    assert sorted(things) == things.names() == ["a", "b", "c"]
    assert dict(things)["b"] == Thing("b") and things.get("z") is None and things.get("z", 1) == 1
    assert set(things.keys()) == {"a", "b", "c"} and len(things.items()) == 3
    assert repr(things) == "Registry('thing': a, b, c)"
    with pytest.raises(ValueError, match="needs a name"):
        things.register(object())


def test_duplicates_are_refused_unless_overwrite():
    things = Registry("thing", {"a": Thing("a")})
    with pytest.raises(ValueError, match="a thing named 'a' is already registered .*overwrite=True"):
        things.register(Thing("a", ["new"]))
    assert things["a"].parts == []
    things.register(Thing("a", ["new"]), overwrite=True)
    assert things["a"].parts == ["new"]
    things.unregister("a")
    assert "a" not in things
    with pytest.raises(KeyError, match="unknown thing 'a'"):
        things.unregister("a")


def test_unknown_name_is_one_line_naming_the_table():
    things = Registry("recipe", {"tiny": 1, "base": 2}, hint=" (or pass a config)")
    with pytest.raises(UnknownNameError) as err:
        things["huge"]
    assert str(err.value) == "unknown recipe 'huge'; registered: base, tiny (or pass a config)"
    assert isinstance(err.value, KeyError) and "\n" not in str(err.value)
    assert str(_raised(Registry("colour"), "red")) == "unknown colour 'red'; registered: none"

    class MyError(UnknownNameError, ValueError):
        """A KeyError that a caller promised as a ValueError."""

    with pytest.raises(ValueError, match="unknown recipe 'huge'"):
        Registry("recipe", {"tiny": 1}, error=MyError)["huge"]


def _raised(registry: Registry, name: str) -> Exception:
    try:
        registry[name]
    except KeyError as err:
        return err
    raise AssertionError(f"{name!r} was found")


def test_fresh_copies_and_factories():
    things = Registry("thing", {"a": Thing("a")}, fresh=True, kind=Thing)
    got = things["a"]
    got.parts.append("changed")
    assert things["a"].parts == [] and things["a"] is not things["a"]  # a caller's change stays its own
    template = Thing("b")
    things.register(template)
    template.parts.append("later")                       # nor does a change to what was registered
    assert things["b"].parts == []
    made = []
    things.register(lambda: made.append(1) or Thing("c"))  # a zero-argument factory, called on every lookup
    assert len(made) == 1                                # register calls it once, to check its kind and name
    assert things["c"].name == "c" and things["c"] is not things["c"] and len(made) == 4


def test_kind_is_checked():
    things = Registry("thing", kind=Thing)
    with pytest.raises(TypeError, match="register\\(\\) takes a Thing, got str"):
        things.register("a", "a")
    with pytest.raises(TypeError, match="takes a Thing or a factory returning one, got int"):
        Registry("thing", kind=Thing, fresh=True).register(lambda: 1, "x")
    with pytest.raises(TypeError, match="int or str"):
        Registry("thing", kind=(int, str)).register(1.5, "x")


def test_dict_style_writes_still_work_with_a_deprecation_warning():
    things = Registry("thing", {"a": Thing("a")})
    with pytest.warns(DeprecationWarning, match="call register\\(obj, 'b', overwrite=True\\)"):
        things["b"] = Thing("b")
    with pytest.warns(DeprecationWarning, match="unregister\\('b'\\)"):
        assert things.pop("b").name == "b"
    with pytest.warns(DeprecationWarning):
        assert things.pop("b", None) is None
    with pytest.warns(DeprecationWarning):
        del things["a"]
    assert len(things) == 0


#: every name → object table users look names up in: (module, attribute, what an unknown name is called)
TABLES = [
    ("babybias.evaluate.registry", "REGISTRY", "benchmark"),
    ("babybias.train.config", "RECIPES", "recipe"),
    ("babybias.downstream.finetune", "FINETUNE_RECIPES", "fine-tuning recipe"),
    ("babybias.downstream.tasks", "TASKS", "downstream task"),
    ("babybias.downstream.interventions", "INTERVENTIONS", "downstream intervention"),
    ("babybias.experiment.conditions", "PRESETS", "experiment preset"),
    ("babybias.experiment.conditions", "AXIS_METRICS", "bias axis"),
    ("babybias.analysis.composites", "COMPOSITES", "composite"),
    ("babybias.debias.methods", "SENT_DEBIAS_RECIPES", "Sent-Debias recipe"),
    ("babybias.debias.methods", "INLP_RECIPES", "INLP recipe"),
    ("babybias.debias.self_debias", "PREFIX_SETS", "prefix set"),
]


@pytest.mark.parametrize("module, name, what", TABLES, ids=[t[1] for t in TABLES])
def test_every_table_is_a_registry(module, name, what):
    table = getattr(importlib.import_module(module), name)
    assert isinstance(table, Registry) and len(table) >= 2
    assert str(_raised(table, "no-such-name")).startswith(f"unknown {what} 'no-such-name'; registered: ")


def test_the_tables_keep_their_functions_and_messages():
    from babybias.analysis import get_composite
    from babybias.debias import INLP, SentDebias
    from babybias.downstream import finetune_recipe, get_task
    from babybias.experiment import SandboxError, get_experiment
    from babybias.train import RECIPES, TrainConfig, get_recipe

    with pytest.raises(KeyError, match="unknown recipe 'huge'; registered: .*tiny"):
        get_recipe("huge")
    RECIPES.register(TrainConfig(name="mine", steps=3))
    try:
        assert get_recipe("mine", steps=5).steps == 5 and RECIPES["mine"].steps == 3
    finally:
        RECIPES.unregister("mine")
    with pytest.raises(ValueError, match="unknown fine-tuning recipe 'huge'"):
        finetune_recipe("huge")
    with pytest.raises(ValueError, match="unknown downstream task 'huge'"):
        get_task("huge")
    with pytest.raises(SandboxError, match="experiment must be one of"):
        get_experiment("huge")
    with pytest.raises(KeyError, match="unknown composite 'huge'"):
        get_composite("huge")
    # registering a composite twice is refused: tests/analysis/test_composites.py
    with pytest.raises(ValueError, match="recipe must be one of \\['bias-bench', 'per-occurrence'\\]"):
        SentDebias(recipe="nope")
    with pytest.raises(ValueError, match="recipe must be one of \\['bias-bench', 'word-boundary'\\]"):
        INLP(recipe="nope")
