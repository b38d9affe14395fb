"""Tests for nornflow.yamlio: positions, every refusal, and that only YAMLLoadError escapes."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nornflow import yamlio
from nornflow.exceptions import NornFlowError, YAMLLoadError
from nornflow.yamlio import LocatedDict, LocatedList, load_yaml_file, load_yaml_text, position_of

DOC = textwrap.dedent(
    """\
    # a comment
    name: site
    tasks:
      - name: backup
        args: {path: /tmp}
      - ping
    vars:
        nested:
          deep: 1
    """
)


def _err(text: str) -> YAMLLoadError:
    """Load text that must fail and return the error."""
    with pytest.raises(YAMLLoadError) as info:
        load_yaml_text(text, source="t.yaml")
    return info.value


# ------------------------------------------------------------------------------------------- positions


def test_mappings_are_located_dicts_with_key_positions() -> None:
    data = load_yaml_text(DOC, source="flow.yaml")
    assert isinstance(data, LocatedDict) and isinstance(data, dict)
    assert data == {
        "name": "site",
        "tasks": [{"name": "backup", "args": {"path": "/tmp"}}, "ping"],
        "vars": {"nested": {"deep": 1}},
    }
    assert (data.source, data.line, data.column) == ("flow.yaml", 2, 1)
    assert data.key_position("name") == (2, 1)
    assert data.key_position("tasks") == (3, 1)
    assert data.value_position("name") == (2, 7)
    assert data.key_position("missing") is None
    assert data.key_position(["unhashable"]) is None

    task = data["tasks"][0]
    assert (task.line, task.column) == (4, 5)
    assert task.key_position("args") == (5, 5)
    assert task["args"].key_position("path") == (5, 12)
    assert (task["args"].line, task["args"].column) == (5, 11)
    assert data["vars"]["nested"].key_position("deep") == (9, 7)


def test_sequences_are_located_lists_with_item_positions() -> None:
    tasks = load_yaml_text(DOC, source="flow.yaml")["tasks"]
    assert isinstance(tasks, LocatedList) and isinstance(tasks, list)
    assert (tasks.source, tasks.line, tasks.column) == ("flow.yaml", 4, 3)
    assert tasks.item_position(0) == (4, 5)
    assert tasks.item_position(1) == (6, 5)
    assert tasks.item_position(-1) == (6, 5)
    assert tasks.item_position(2) is None
    assert tasks.item_position("0") is None  # type: ignore[arg-type]


def test_position_of() -> None:
    data = load_yaml_text(DOC, source="flow.yaml")
    assert position_of(data) == ("flow.yaml", 2, 1)
    assert position_of(data, "vars") == ("flow.yaml", 7, 1)
    # Unknown key: falls back to where the mapping starts.
    assert position_of(data["tasks"][0], "nope") == ("flow.yaml", 4, 5)
    assert position_of(data["tasks"], 1) == ("flow.yaml", 6, 5)
    assert position_of({"a": 1}, "a") == (None, None, None)
    assert position_of("scalar") == (None, None, None)


def test_load_yaml_file_uses_the_path_as_source(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("r1:\n  hostname: 10.0.0.1\n", encoding="utf-8")
    data = load_yaml_file(path)
    assert data == {"r1": {"hostname": "10.0.0.1"}}
    assert position_of(data["r1"], "hostname") == (str(path), 2, 3)
    assert load_yaml_file(str(path)) == data


def test_utf8_bom_and_unicode_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffdescr: café ✓\n".encode())
    assert load_yaml_file(path) == {"descr": "café ✓"}


def test_located_containers_behave_like_plain_ones() -> None:
    data = load_yaml_text("a: [1, {b: 2}]\nc: x\n", source="s.yaml")
    assert json.loads(json.dumps(data)) == {"a": [1, {"b": 2}], "c": "x"}
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert yaml.safe_load(yaml.dump(data)) == data
    for clone in (copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert clone == data
        assert isinstance(clone, LocatedDict)
        assert clone.key_position("c") == (2, 1)
        assert clone.source == "s.yaml"
        assert clone["a"].item_position(1) == (1, 8)


def test_merge_keys_are_supported_and_own_keys_win() -> None:
    data = load_yaml_text(
        textwrap.dedent(
            """\
            base: &base {user: admin, port: 22}
            extra: &extra {port: 2222, timeout: 5}
            r1:
              <<: [*base, *extra]
              port: 830
            r2:
              <<: *extra
            """
        )
    )
    assert data["r1"] == {"user": "admin", "port": 830, "timeout": 5}
    assert data["r2"] == {"port": 2222, "timeout": 5}
    # A merged key points to where it was written; an own key to its own line.
    assert data["r1"].key_position("user") == (1, 14)
    assert data["r1"].key_position("port") == (5, 3)


def test_merging_a_mapping_that_itself_merges_is_not_a_duplicate() -> None:
    # The inner mapping is referenced (and flattened) before it is constructed itself.
    data = load_yaml_text("outer: {inner: &n {<<: {x: 1}, x: 2}}\nm: {<<: *n, y: 3}\n")
    assert data == {"outer": {"inner": {"x": 2}}, "m": {"x": 2, "y": 3}}


def test_aliases_share_the_same_object() -> None:
    data = load_yaml_text("a: &x {k: v}\nb: *x\n")
    assert data["a"] is data["b"]


def test_plain_safe_scalars_still_resolve() -> None:
    data = load_yaml_text("i: 0x1F\nf: 1.5\nb: yes\nn: ~\ns: !!set {a, b}\nd: 2024-01-02\neq: =\nm: <<\n")
    assert data["i"] == 31 and data["f"] == 1.5 and data["b"] is True and data["n"] is None
    assert data["s"] == {"a", "b"}
    assert str(data["d"]) == "2024-01-02"
    assert data["eq"] == "=" and data["m"] == "<<"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n", "--- ~\n"])
def test_empty_document_is_none(text: str) -> None:
    assert load_yaml_text(text) is None


# ---------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(YAMLLoadError) as info:
        load_yaml_file(path, what="inventory")
    err = info.value
    assert isinstance(err, NornFlowError)
    assert err.file == str(path) and err.line is None and err.column is None
    assert "cannot read inventory file" in err.message
    assert "No such file" in err.message


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(YAMLLoadError) as info:
        load_yaml_file(tmp_path)
    assert info.value.file == str(tmp_path)
    assert "cannot read YAML file" in info.value.message


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read anything")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    with pytest.raises(YAMLLoadError, match="Permission denied"):
        load_yaml_file(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(YAMLLoadError) as info:
        load_yaml_file(path, what="workflow")
    err = info.value
    assert (err.file, err.line, err.column) == (str(path), 2, 10)
    assert "workflow file is not valid UTF-8" in err.message and "0xe9" in err.message


def test_syntax_error_position_and_message() -> None:
    err = _err("a: 1\nb:\n  c: 2\n   d: 3\n")
    assert (err.file, err.line, err.column) == ("t.yaml", 4, 5)
    assert "mapping values are not allowed" in err.message
    assert str(err).startswith("t.yaml:4:5: ")


def test_syntax_error_includes_context() -> None:
    err = _err("key: [1, 2\nother: 3\n")
    assert "did not find expected ',' or ']'" in err.message
    assert "while parsing a flow sequence started at line 1, column 6" in err.message
    assert err.line == 3 or err.line == 2


def test_unclosed_quote() -> None:
    err = _err('a: "open\nb: 2\n')
    assert "while scanning a quoted scalar" in err.message
    assert err.line == 3


def test_control_character_is_located() -> None:
    err = _err("é: 1\nb: x\x07\n")
    assert (err.line, err.column) == (2, 5)
    assert "#x0007" in err.message


def test_lone_surrogate_is_a_load_error() -> None:
    assert _err("a: \ud800").file == "t.yaml"


def test_duplicate_keys_name_key_and_both_lines() -> None:
    err = _err("a: 1\nb: 2\na: 3\n")
    assert (err.line, err.column) == (3, 1)
    assert "duplicate key 'a'" in err.message
    assert "line 1" in err.message and "line 3" in err.message


def test_duplicate_keys_nested_and_flow() -> None:
    err = _err("top:\n  x: {k: 1, k: 2}\n")
    assert (err.line, err.column) == (2, 13)
    assert "duplicate key 'k'" in err.message
    # Keys equal in Python (1 and 0x1) are duplicates too: Python could not keep both.
    err = _err("1: a\n0x1: b\n")
    assert "duplicate key 1" in err.message and err.line == 2


def test_duplicate_merge_key() -> None:
    err = _err("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n")
    assert "duplicate key '<<'" in err.message and err.line == 4


def test_bad_merge_value() -> None:
    err = _err("a:\n  <<: 5\n")
    assert "to merge" in err.message and err.line == 2


@pytest.mark.parametrize(
    ("text", "line", "column", "what"),
    [
        ("? {a: 1}\n: x\n", 1, 3, "mapping"),
        ("x:\n  ? [a, b]\n  : y\n", 2, 5, "sequence"),
    ],
)
def test_unhashable_keys(text: str, line: int, column: int, what: str) -> None:
    err = _err(text)
    assert (err.line, err.column) == (line, column)
    assert f"a mapping key must be a scalar, found a {what}" in err.message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object:os.system ls\n",
        "a: !!python/object/apply:os.system [ls]\n",
        "a: !!python/name:os.system\n",
        "a: !custom 1\n",
    ],
)
def test_unsafe_tags_are_refused(text: str) -> None:
    err = _err(text)
    assert (err.line, err.column) == (1, 4)
    assert "not allowed" in err.message


def test_bad_typed_scalar_is_located() -> None:
    err = _err("a: 1\nwhen: 2024-13-45\n")
    assert (err.line, err.column) == (2, 7)
    assert "timestamp" in err.message


def test_multiple_documents() -> None:
    err = _err("a: 1\n---\nb: 2\n")
    assert "expected a single document" in err.message
    assert (err.line, err.column) == (2, 1)


def test_undefined_alias() -> None:
    err = _err("a: 1\nb: *nope\n")
    assert "undefined alias" in err.message and (err.line, err.column) == (2, 4)


def test_recursive_alias_is_refused() -> None:
    err = _err("a: &a\n  b: *a\n")
    assert "recursive alias *a" in err.message and err.line == 2


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
)


def test_billion_laughs_is_refused() -> None:
    err = _err(BILLION_LAUGHS)
    assert "more than 1,000,000 nodes" in err.message
    assert err.file == "t.yaml" and err.line is not None


def test_moderate_aliasing_is_fine_and_limit_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # root 1 + key a 1 + [1, 2, 3] 4 + key b 1 + (1 + 3 * 4) = 20 nodes once the aliases are expanded
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert load_yaml_text(text)["b"] == [[1, 2, 3]] * 3
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 19)
    err = _err(text)
    assert "more than 19 nodes" in err.message and (err.line, err.column) == (2, 13)
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 20)
    assert load_yaml_text(text)["a"] == [1, 2, 3]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "{a: " * 5_000 + "1" + "}" * 5_000,
        "".join("  " * i + "k:\n" for i in range(300)),
        "- " * 1_000 + "x\n",
    ],
)
def test_deep_nesting_is_refused(text: str) -> None:
    err = _err(text)
    assert "nested deeper than 200 levels" in err.message
    assert err.line is not None and err.column is not None


def test_depth_limit_counts_through_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_DEPTH", 4)
    assert load_yaml_text("a: [[[1]]]\n") == {"a": [[[1]]]}  # depth 4
    assert "deeper than 4" in _err("a: [[[[1]]]]\n").message
    err = _err("a: &x [[[1]]]\nb: [*x]\n")  # *x is 3 deep, under 2 levels
    assert "deeper than 4" in err.message and (err.line, err.column) == (2, 5)


def test_unexpected_exceptions_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise MemoryError("simulated")

    monkeypatch.setattr(yamlio._Loader, "construct_document", boom)
    err = _err("a: 1\n")
    assert "MemoryError" in err.message and err.file == "t.yaml"


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text())
def test_arbitrary_text_raises_only_yamlloaderror(text: str) -> None:
    with contextlib.suppress(YAMLLoadError):
        load_yaml_text(text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from([*"[]{}:,-?&*!|>'\"#%@` \n\tab1<=~.", "\u2028", "é"])))
def test_yaml_looking_text_raises_only_yamlloaderror(text: str) -> None:
    with contextlib.suppress(YAMLLoadError):
        load_yaml_text(text)


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(JSON_LIKE)
def test_safe_dump_round_trips(data: object) -> None:
    loaded = load_yaml_text(yaml.safe_dump(data))
    assert loaded == data
