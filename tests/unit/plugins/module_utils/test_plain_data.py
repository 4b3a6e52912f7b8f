"""plain_data: what a filter receives becomes plain dicts, lists and tuples, at every depth."""

import copy
from collections.abc import Mapping

from ansible_collections.gce.cos.plugins.module_utils.plain_data import plain, plain_inputs


class LazyMapping(Mapping):
    """Stands for a lazy container: a Mapping that is not a dict and refuses to be deep-copied."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __deepcopy__(self, memo):
        raise AssertionError("deep-copied")


class LazyList(list):
    def __deepcopy__(self, memo):
        raise AssertionError("deep-copied")


def test_nested_containers_become_plain():
    value = LazyMapping({"a": LazyList([LazyMapping({"b": (1, LazyList(["x"]))})]), "n": None})
    out = plain(value)
    assert out == {"a": [{"b": (1, ["x"])}], "n": None}
    assert [out.__class__, out["a"].__class__, out["a"][0].__class__] == [dict, list, dict]
    assert out["a"][0]["b"][1].__class__ is list
    copy.deepcopy(out)


def test_leaves_are_kept():
    leaves = ["text", 3, 2.5, True, None, b"bytes"]
    assert plain(leaves) == leaves


def test_plain_inputs_converts_positional_and_keyword_arguments():
    seen = []

    def fake_filter(inputs, agent=True):
        seen.append((type(inputs), type(agent)))
        return copy.deepcopy(inputs)

    wrapped = plain_inputs(fake_filter)
    assert wrapped(LazyMapping({"k": LazyList([1])}), agent=LazyList([2])) == {"k": [1]}
    assert seen == [(dict, list)]
    assert wrapped.__name__ == "fake_filter"
