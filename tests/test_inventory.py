"""YAMLInventory loads what SimpleInventory loads, and its errors name the file, line, host and key."""

from __future__ import annotations

import gc
import math
import pathlib
import textwrap
import tomllib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from nornir import InitNornir
from nornir.core.inventory import Inventory
from nornir.core.plugins.inventory import InventoryPluginRegister
from nornir.plugins.inventory import SimpleInventory

from nornflow.exceptions import InventoryError
from nornflow.inventory import YAMLInventory, load_inventory
from nornflow.inventory import plugin as inventory_module

ROOT = pathlib.Path(__file__).resolve().parents[1]

HOSTS = """\
# a comment
core1:
  hostname: 10.0.0.1
  port: 2222
  username: admin
  password: secret
  platform: cisco_ios
  groups: [site_a, role_core]
  data:
    rack: 12
    tags: [core, "prod"]
    nested: {a: 1, b: [x, y]}
  connection_options:
    netmiko:
      platform: cisco_xe
      port: 22
      extras:
        fast_cli: false
        global_delay_factor: 2
    napalm:
      username: napalm_user
      extras: {optional_args: {transport: ssh}}
edge1:
  hostname: edge1.example.net
  groups:
    - site_b
    - role_edge
    - site_a
  data:
    site: b
edge2:
  groups: [role_edge]
bare: {}
"""

GROUPS = """\
global:
  data:
    ntp: [10.1.1.1, 10.1.1.2]
    owner: netops
  connection_options:
    netmiko:
      extras: {read_timeout: 30}
site_a:
  groups: [global]
  data: {site: a, city: Paris}
  username: site_a_user
site_b:
  groups: [global]
  platform: juniper_junos
  data: {site: b}
role_core:
  port: 830
  data: {role: core}
role_edge:
  groups: [site_b, global]
  data: {role: edge}
"""

DEFAULTS = """\
username: default_user
password: default_pass
port: 22
data:
  domain: example.net
  owner: nobody
connection_options:
  netmiko:
    extras:
      session_log: /tmp/log
"""


def write_files(tmp_path: pathlib.Path, hosts: str, groups: str | None = None, defaults: str | None = None):
    """Write the inventory files and return their three paths."""
    paths = (tmp_path / "hosts.yaml", tmp_path / "groups.yaml", tmp_path / "defaults.yaml")
    for path, text in zip(paths, (hosts, groups, defaults), strict=True):
        if text is not None:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tuple(str(p) for p in paths)


def both(tmp_path: pathlib.Path, hosts: str, groups: str | None, defaults: str | None):
    """Load the same files with YAMLInventory and SimpleInventory."""
    paths = write_files(tmp_path, hosts, groups, defaults)
    return YAMLInventory(*paths).load(), SimpleInventory(*paths).load()


def load_error(
    tmp_path: pathlib.Path, hosts: str, groups: str | None = None, **kwargs: Any
) -> InventoryError:
    """Load files expected to be wrong and return the InventoryError raised."""
    paths = write_files(tmp_path, hosts, groups, kwargs.pop("defaults", None))
    with pytest.raises(InventoryError) as info:
        YAMLInventory(*paths, **kwargs).load()
    return info.value


def assert_same_inventory(ours: Inventory, theirs: Inventory) -> None:
    """Compare two inventories field by field, raw and as resolved by Nornir's inheritance."""
    assert ours.defaults.dict() == theirs.defaults.dict()
    assert list(ours.groups) == list(theirs.groups)
    for name, group in theirs.groups.items():
        mine = ours.groups[name]
        assert mine.dict() == group.dict(), name
        assert [g.name for g in mine.groups] == [g.name for g in group.groups]
        assert all(parent is ours.groups[parent.name] for parent in mine.groups)
    assert list(ours.hosts) == list(theirs.hosts)
    for name, host in theirs.hosts.items():
        mine = ours.hosts[name]
        assert mine.name == host.name
        assert mine.dict() == host.dict(), name
        assert [g.name for g in mine.groups] == [g.name for g in host.groups]
        assert all(parent is ours.groups[parent.name] for parent in mine.groups)
        assert mine.defaults is ours.defaults
        for attr in ("hostname", "port", "username", "password", "platform"):
            assert getattr(mine, attr) == getattr(host, attr), (name, attr)
        assert mine.extended_data() == host.extended_data()
        for conn in ("netmiko", "napalm", "other"):
            assert mine.get_connection_parameters(conn).dict() == host.get_connection_parameters(conn).dict()
        for conn_name, options in host.connection_options.items():
            assert mine.connection_options[conn_name].extras == options.extras


# ---- same objects as SimpleInventory ------------------------------------------------------------------


def test_same_inventory_as_simple_inventory(tmp_path: pathlib.Path) -> None:
    ours, theirs = both(tmp_path, HOSTS, GROUPS, DEFAULTS)
    assert_same_inventory(ours, theirs)
    core = ours.hosts["core1"]
    assert core.port == 2222 and core.connection_options["netmiko"].extras == {
        "fast_cli": False,
        "global_delay_factor": 2,
    }
    assert ours.hosts["edge2"].platform == "juniper_junos"  # inherited through role_edge -> site_b
    assert ours.hosts["bare"].username == "default_user"  # from defaults
    assert [g.name for g in ours.hosts["edge1"].extended_groups()] == [
        "site_b",
        "global",
        "role_edge",
        "site_a",
    ]


def test_missing_group_and_defaults_files_are_empty(tmp_path: pathlib.Path) -> None:
    hosts = "h1:\n  hostname: 1.1.1.1\n  data: {a: 1}\nh2: {}\n"
    ours, theirs = both(tmp_path, hosts, None, None)
    assert_same_inventory(ours, theirs)
    assert len(ours.groups) == 0 and ours.defaults.dict() == theirs.defaults.dict()


def test_empty_files_are_empty_inventories(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    ours, theirs = both(tmp_path, "# nothing yet\n", "", "---\n")
    assert_same_inventory(ours, theirs)
    assert len(ours.hosts) == 0
    assert "hosts.yaml' is empty" in caplog.text


def test_anchors_and_merge_keys_like_simple_inventory(tmp_path: pathlib.Path) -> None:
    hosts = """\
    .common: &common
      platform: eos
      data: &data {vendor: arista, tier: 2}
    sw1:
      <<: *common
      hostname: sw1.lab
    sw2:
      <<: *common
      platform: ios
      data: *data
    """
    # SimpleInventory has no way to skip the ``.common`` helper: both must see it as a host
    ours, theirs = both(tmp_path, hosts, None, None)
    assert_same_inventory(ours, theirs)
    assert ours.hosts["sw1"].platform == "eos" and ours.hosts["sw2"].platform == "ios"
    assert ours.hosts["sw2"].data == {"vendor": "arista", "tier": 2}


def test_load_inventory_function_and_none_files(tmp_path: pathlib.Path) -> None:
    host_file, group_file, defaults_file = write_files(tmp_path, HOSTS, GROUPS, DEFAULTS)
    full = load_inventory(host_file, group_file, defaults_file)
    assert_same_inventory(full, SimpleInventory(host_file, group_file, defaults_file).load())
    (tmp_path / "solo.yaml").write_text("h1: {hostname: a}\n", encoding="utf-8")
    solo = load_inventory(tmp_path / "solo.yaml")
    assert list(solo.hosts) == ["h1"] and len(solo.groups) == 0
    assert solo.hosts["h1"].hostname == "a"


def test_encoding_is_honoured(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_bytes("r\xe9seau:\n  data: {ville: Orl\xe9ans}\n".encode("latin-1"))
    inventory = YAMLInventory(str(path), encoding="latin-1").load()
    assert inventory.hosts["r\xe9seau"].data == {"ville": "Orl\xe9ans"}
    error = load_error(tmp_path, "x: {}\n", encoding="no-such-codec")
    assert error.file == str(path)


def test_pure_python_loader_fallback_gives_the_same_inventory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_files(tmp_path, HOSTS, GROUPS, DEFAULTS)
    fast = YAMLInventory(*paths).load()
    monkeypatch.setattr(inventory_module, "_Loader", yaml.SafeLoader)
    assert_same_inventory(YAMLInventory(*paths).load(), fast)


def test_gc_state_is_restored(tmp_path: pathlib.Path) -> None:
    paths = write_files(tmp_path, HOSTS, GROUPS, DEFAULTS)
    assert gc.isenabled()
    YAMLInventory(*paths).load()
    assert gc.isenabled()
    with pytest.raises(InventoryError):
        YAMLInventory(str(tmp_path / "missing.yaml")).load()
    assert gc.isenabled()
    gc.disable()
    try:
        YAMLInventory(*paths).load()
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---- the YAML builder equals yaml.safe_load ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        ["yes", "No", "on", "~", "0x1f", "1_000", "12:30", "2001-12-14", "1e3", ".inf", "<<", ""]
    ),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Deep equality that also checks types, key order, and NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_builder_equals_safe_load(value: Any, flow: bool) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    assert _same(inventory_module._parse(text, "f.yaml", {}), yaml.safe_load(text))


def test_builder_handles_yaml_features_like_safe_load() -> None:
    text = textwrap.dedent(
        """\
        base: &b {a: 1, b: [1, 2, {c: d}]}
        other: &o {x: 1, a: 5}
        m: {<<: *b, a: 2}
        n: {<<: [*o, *b], z: ~}
        p:
          <<: *b
          <<: *o
        t: 2001-12-14t21:59:43.10-05:00
        f: [1.5, .inf, 0x1F, 017, 1_000, +12, 190:20:30, yes, off]
        s: ['yes', "1", !!str 12, !!int "13", !!float "1", !!null "", ""]
        multi: |
          line1
          line2
        bin: !!binary aGVsbG8=
        empty:
        ? complex
        : val
        alias: *b
        """
    )
    built = inventory_module._parse(text, "f.yaml", {})
    expected = yaml.safe_load(text)
    if _PYYAML < (6, 0, 4):  # merged keys came in another order before PyYAML 6.0.4 (same values)
        for name in ("n", "p"):
            expected[name] = {k: expected[name][k] for k in built[name]}
    assert _same(built, expected)
    assert built["alias"] is built["base"]


_PYYAML = tuple(int(part) for part in yaml.__version__.split(".")[:3] if part.isdigit())


def test_merge_keys_follow_the_yaml_spec_earlier_sources_win() -> None:
    """``<<: [*a, *b]``: a key in both sources takes a's value, whatever the key looks like (PyYAML
    6.0.4 lets b win for keys that are not interned strings, such as ``"two words"`` or ints)."""
    text = 'a: &a {"two words": 1, 7: a, x: 1}\nb: &b {"two words": 2, 7: b, y: 2}\nm: {<<: [*a, *b], z: 3}\n'
    built = inventory_module._parse(text, "f.yaml", {})
    assert built["m"] == {"two words": 1, 7: "a", "x": 1, "y": 2, "z": 3}
    assert list(built["m"]) == ["two words", 7, "x", "y", "z"]


# ---- errors name the file, the line, the host and the key --------------------------------------------------


def test_missing_host_file(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InventoryError) as info:
        YAMLInventory(str(missing)).load()
    assert info.value.file == str(missing)
    assert "not found" in info.value.message and str(missing) in str(info.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("h1:\n  hostname: a\n  data: {a: 1\nh2: {}\n", "hosts"),
        ("h1:\n  hostname: a: b\n", "hosts"),
        ("h1:\n\thostname: a\n", "hosts"),
        ("g1:\n  data: [1, 2\n", "groups"),
    ],
)
def test_yaml_syntax_error_names_file_line_column(tmp_path: pathlib.Path, text: str, where: str) -> None:
    if where == "hosts":
        error = load_error(tmp_path, text)
        path = tmp_path / "hosts.yaml"
    else:
        error = load_error(tmp_path, "h1: {}\n", text)
        path = tmp_path / "groups.yaml"
    with pytest.raises(yaml.MarkedYAMLError) as reference:  # what the same parser reports
        yaml.load(text, Loader=inventory_module._Loader)
    mark = reference.value.problem_mark
    assert (error.file, error.line, error.column) == (str(path), mark.line + 1, mark.column + 1)
    assert f"{path}:{mark.line + 1}:{mark.column + 1}" in str(error)
    assert "syntax" in error.message


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_forbidden_character_names_line_and_column(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, loader: Any
) -> None:
    monkeypatch.setattr(inventory_module, "_Loader", loader)
    error = load_error(tmp_path, "h1: {}\nh2:\n  data: {a: \x07}\n")
    assert (error.file, error.line, error.column) == (str(tmp_path / "hosts.yaml"), 3, 13)
    assert "#x0007" in error.message


@pytest.mark.parametrize(("value", "kind"), [("!!int abc", "int"), ("2001-13-45", "timestamp")])
def test_invalid_typed_scalar_names_line(tmp_path: pathlib.Path, value: str, kind: str) -> None:
    error = load_error(tmp_path, f"h1:\n  data:\n    x: {value}\n")
    assert (error.line, error.column) == (3, 8)
    assert f"invalid {kind} value" in error.message


def test_syntax_error_in_defaults_file(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n", defaults="username: [a\n")
    assert error.file == str(tmp_path / "defaults.yaml") and error.line == 2


def test_hosts_file_not_a_mapping(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "- h1\n- h2\n")
    assert error.file == str(tmp_path / "hosts.yaml")
    assert "mapping" in error.message and "list" in error.message


def test_host_entry_not_a_mapping(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\nh2: just-a-string\n")
    assert (error.file, error.host, error.line) == (str(tmp_path / "hosts.yaml"), "h2", 2)
    assert "h2" in str(error) and "mapping" in error.message


def test_null_host_entry_is_refused(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n")
    assert error.host == "h1" and "NoneType" in error.message


def test_unknown_host_attribute(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\nh2:\n  hostname: a\n  plattform: ios\n")
    assert (error.host, error.key, error.line) == ("h2", "plattform", 2)
    assert "plattform" in str(error) and "hosts.yaml" in str(error)


def test_unknown_group_attribute(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n", "g1:\n  vars: {a: 1}\n")
    assert (error.file, error.key, error.line) == (str(tmp_path / "groups.yaml"), "vars", 1)
    assert "group 'g1'" in error.message


def test_unknown_defaults_attribute(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n", defaults="groups: [a]\n")
    assert error.file == str(tmp_path / "defaults.yaml") and error.key == "groups"


def test_unknown_connection_option(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  connection_options:\n    netmiko: {extra: {}}\n")
    assert error.host == "h1" and error.key == "connection_options.netmiko.extra"


def test_groups_not_a_list(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  groups: site_a\n", "site_a: {}\n")
    assert (error.file, error.host, error.key) == (str(tmp_path / "hosts.yaml"), "h1", "groups")
    assert "list" in error.message


def test_group_name_not_a_string(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  groups: [[a]]\n", "a: {}\n")
    assert error.host == "h1" and error.key == "groups"


def test_host_references_undefined_group(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  groups: [site_a]\nh2:\n  groups: [site_a, site_z]\n", "site_a: {}\n")
    assert (error.file, error.host, error.key, error.line) == (
        str(tmp_path / "hosts.yaml"),
        "h2",
        "groups",
        3,
    )
    assert "site_z" in error.message


def test_undefined_group_without_group_file(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  groups: [site_a]\n")
    assert error.host == "h1" and "site_a" in error.message


def test_group_references_undefined_group(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n", "a: {}\nb:\n  groups: [a, ghost]\n")
    assert (error.file, error.key, error.line) == (str(tmp_path / "groups.yaml"), "groups", 2)
    assert "group 'b'" in error.message and "ghost" in error.message


def test_group_cycle_is_refused(tmp_path: pathlib.Path) -> None:
    error = load_error(
        tmp_path, "h1: {}\n", "a:\n  groups: [b]\nb:\n  groups: [c]\nc:\n  groups: [a]\nd: {}\n"
    )
    assert error.file == str(tmp_path / "groups.yaml") and error.key == "groups"
    assert "a -> b -> c -> a" in error.message


@pytest.mark.parametrize("port", ['"22"', "true", "22.0", "[22]"])
def test_port_not_an_int(tmp_path: pathlib.Path, port: str) -> None:
    error = load_error(tmp_path, f"h1: {{}}\nh2:\n  port: {port}\n")
    assert (error.host, error.key, error.line) == ("h2", "port", 2)
    assert "integer" in error.message


def test_connection_port_not_an_int(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1:\n  connection_options:\n    netmiko: {port: ssh}\n")
    assert error.host == "h1" and error.key == "connection_options.netmiko.port"


def test_group_port_not_an_int(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n", "g:\n  port: x\n")
    assert (
        error.file == str(tmp_path / "groups.yaml") and error.key == "port" and "group 'g'" in error.message
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [("h1:\n  data: [1]\n", "data"), ("h1:\n  connection_options: [netmiko]\n", "connection_options")],
)
def test_data_and_connection_options_must_be_mappings(tmp_path: pathlib.Path, text: str, key: str) -> None:
    error = load_error(tmp_path, text)
    assert error.host == "h1" and error.key == key


def test_duplicate_host_is_refused(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\nh2: {}\nh1: {platform: ios}\n")
    assert (error.file, error.line, error.column) == (str(tmp_path / "hosts.yaml"), 3, 1)
    assert "duplicate" in error.message and "h1" in error.message


def test_host_name_not_a_string(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n2001: {}\n")
    assert error.line == 2 and "string" in error.message


def test_undefined_alias_and_unknown_tag(tmp_path: pathlib.Path) -> None:
    alias = load_error(tmp_path, "h1:\n  data: *nothing\n")
    assert alias.line == 2 and alias.file == str(tmp_path / "hosts.yaml")
    tag = load_error(tmp_path, "h1:\n  password: !vault abc\n")
    assert tag.line == 2 and "!vault" in tag.message


def test_several_documents_are_refused(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path, "h1: {}\n---\nh2: {}\n")
    assert error.line == 2 and "single" in error.message


# ---- plugin registration -----------------------------------------------------------------------------------


@pytest.mark.source_tree  # reads pyproject.toml
def test_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entry = project["entry-points"]["nornir.plugins.inventory"]["nornflow.YAMLInventory"]
    assert entry == "nornflow.inventory:YAMLInventory"
    module, _, name = entry.partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is YAMLInventory


def test_init_nornir_with_the_plugin_name(tmp_path: pathlib.Path) -> None:
    InventoryPluginRegister.auto_register()
    if "nornflow.YAMLInventory" not in InventoryPluginRegister.available:
        InventoryPluginRegister.register("nornflow.YAMLInventory", YAMLInventory)
    assert InventoryPluginRegister.get_plugin("nornflow.YAMLInventory") is YAMLInventory
    host_file, group_file, defaults_file = write_files(tmp_path, HOSTS, GROUPS, DEFAULTS)
    nr = InitNornir(
        inventory={
            "plugin": "nornflow.YAMLInventory",
            "options": {"host_file": host_file, "group_file": group_file, "defaults_file": defaults_file},
        },
        runner={"plugin": "serial"},
        logging={"enabled": False},
    )
    assert list(nr.inventory.hosts) == ["core1", "edge1", "edge2", "bare"]
    assert nr.inventory.hosts["edge1"]["role"] == "edge"


PLAIN_SCALARS = [
    "0",
    "-0",
    "+12",
    "7",
    "012",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "190:20:30",
    "-12",
    "+0",
    "00",
    "1.5",
    "-1.5",
    "12.",
    ".5",
    "1e3",
    "1.0e+3",
    "6.8523015e+5",
    ".inf",
    "-.Inf",
    ".nan",
    "1:20.5",
    "1.2.3",
    "10.0.0.1",
    "0.0.0.0",
    "1.2.3e4",
    "1..2",
    "-1.2.3",
    "+1.2.3",
    "2001-12-14",
    "2001.12.14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "1.2.3-rc1",
    "12:30:45",
    "yes",
    "No",
    "ON",
    "off",
    "True",
    "FALSE",
    "y",
    "n",
    "tRUE",
    "~",
    "null",
    "Null",
    "NULL",
    "nil",
    "",
    "none",
    "=",
    "<<x",
    "site0",
    "SN0001",
    "-",
    "-x",
    "+",
    "_1",
    "1_",
    "0_1",
]


@pytest.mark.parametrize("value", PLAIN_SCALARS)
def test_plain_scalar_fast_paths_resolve_exactly_like_safe_load(value: str) -> None:
    for text in (f"k: {value}\n", f"k: [{value}]\n" if value else "k: []\n", f"k:\n  - {value}\n"):
        try:
            expected = yaml.safe_load(text)
        except yaml.YAMLError:  # "k: -", "k: =": refused by both, ours with the file and line
            with pytest.raises(InventoryError, match=r"f\.yaml:\d+:\d+"):
                inventory_module._parse(text, "f.yaml", {})
            continue
        assert _same(inventory_module._parse(text, "f.yaml", {}), expected), text
