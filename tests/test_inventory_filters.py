"""Inventory filters: one "any of" rule for every filter, the CLI's --filter, empty selections,
unknown names, and the project's own filter functions (filter_dirs)."""

from __future__ import annotations

import json
import logging
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.exceptions import FilterError, FilterImportError, NoHostsMatchedError, UsageError
from nornflow.inventory import filters as fm
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

HOSTS = {
    "r1": {
        "platform": "cisco_ios",
        "groups": ["core", "ams"],
        "port": 22,
        "data": {"role": "core", "mgmt_vlan": 10, "tags": ["bgp", "edge-facing"], "serial": "001"},
    },
    "r2": {
        "platform": "cisco_ios",
        "groups": ["edge", "fra"],
        "data": {"role": "edge", "mgmt_vlan": 20, "tags": ["bgp"], "enabled": True},
    },
    "sw1": {
        "platform": "arista_eos",
        "groups": ["access", "ams"],
        "data": {"role": "access", "mgmt_vlan": 10, "enabled": False, "version": "4.10"},
    },
    "fw1": {"platform": "juniper_junos", "groups": ["fra"], "data": {"role": "firewall", "mgmt_vlan": 30}},
}
GROUPS = {
    "core": {"groups": ["backbone"]},
    "edge": {"groups": ["backbone"]},
    "backbone": {"data": {"tier": 1}},
    "access": {},
    "ams": {"data": {"site": "ams"}},
    "fra": {"data": {"site": "fra"}},
}


@pytest.fixture
def inv():
    return inventory_from_data(HOSTS, GROUPS, {"data": {"domain": "example.net"}})


def names(inventory) -> list[str]:
    return sorted(inventory.hosts)


def select(inv, filters, **kw) -> list[str]:
    return names(fm.select_hosts(inv, ("filters", filters), **kw))


@pytest.fixture
def isolated_filters():
    """Undo the project filters a test registers in the process-global registry."""
    saved = dict(fm.FILTERS)
    yield
    fm.FILTERS.clear()
    fm.FILTERS.update(saved)


# -- one rule for every filter -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"hosts": "r1"}, ["r1"]),
        ({"hosts": ["r1", "fw1"]}, ["fw1", "r1"]),
        ({"groups": "ams"}, ["r1", "sw1"]),
        ({"groups": ["core", "access"]}, ["r1", "sw1"]),
        ({"groups": "backbone"}, ["r1", "r2"]),  # through a parent group
        ({"platform": "cisco_ios"}, ["r1", "r2"]),
        ({"platform": ["arista_eos", "juniper_junos"]}, ["fw1", "sw1"]),
        ({"name_pattern": "r*"}, ["r1", "r2"]),
        ({"name_pattern": ["sw?", "f*"]}, ["fw1", "sw1"]),
        ({"data": {"role": "core"}}, ["r1"]),
        ({"data": {"role": ["core", "edge"], "site": "fra"}}, ["r2"]),  # inner lists: any of, too
        ({"data": [{"role": "core"}, {"site": "fra"}]}, ["fw1", "r1", "r2"]),  # a list of mappings: any
        ({"data": {"tier": 1}}, ["r1", "r2"]),  # group data is inherited
        ({"role": "edge"}, ["r2"]),
        ({"role": ["core", "edge"]}, ["r1", "r2"]),
        ({"site": "ams", "role": ["core", "access", "edge"]}, ["r1", "sw1"]),  # filters: all of them
        ({"domain": "example.net"}, ["fw1", "r1", "r2", "sw1"]),  # defaults count
        ({"tags": "bgp"}, ["r1", "r2"]),  # a list-valued attribute contains the value
        ({"tags": ["bgp", "edge-facing"]}, ["r1", "r2"]),
        ({"port": 22}, ["r1"]),
        ({"name": ["r2", "sw1"]}, ["r2", "sw1"]),
        ({"hosts": 101}, []),  # YAML reads `hosts: [101]` as a number: compared as a name
    ],
)
def test_every_filter_takes_one_value_or_a_list_meaning_any_of(inv, filters, expected):
    assert select(inv, filters, allow_empty=True) == expected
    assert sorted(n for n, h in inv.hosts.items() if fm.host_matches(h, filters)) == expected


def test_null_means_no_filter_and_an_empty_list_matches_nothing(inv):
    assert select(inv, {"hosts": None, "groups": None, "role": None}) == names(inv)
    assert fm.select_hosts(inv, ("filters", {"hosts": None})) is inv
    assert select(inv, {"role": None, "site": "fra"}) == ["fw1", "r2"]
    for key in ("hosts", "groups", "platform", "name_pattern", "data", "role"):
        assert select(inv, {key: []}, allow_empty=True) == [], key
    with pytest.raises(NoHostsMatchedError, match=r"hosts=\[\]"):
        select(inv, {"hosts": []})


def test_cli_strings_compare_with_typed_inventory_values(inv):
    # values from --filter are strings; they are read as YAML when the host's value is not a string
    assert select(inv, {"mgmt_vlan": "10"}) == ["r1", "sw1"]
    assert select(inv, {"mgmt_vlan": ["10", "30"]}) == ["fw1", "r1", "sw1"]
    assert select(inv, {"enabled": "true"}) == ["r2"]
    assert select(inv, {"enabled": "false"}) == ["sw1"]
    assert select(inv, {"enabled": "1"}, allow_empty=True) == []  # a boolean is not the number 1
    assert select(inv, {"port": "22"}) == ["r1"]
    assert select(inv, {"data": {"mgmt_vlan": "20"}}) == ["r2"]
    # a string in the inventory is compared as a string: leading zeros and dotted versions survive
    assert select(inv, {"serial": "001"}) == ["r1"]
    assert select(inv, {"version": "4.10"}) == ["sw1"]
    assert select(inv, {"serial": 1}) == ["r1"]  # ...and a typed value reads it as YAML
    assert select(inv, {"mgmt_vlan": 10}) == ["r1", "sw1"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"hosts": {"r1": 1}}, "filter 'hosts' takes a name or a list of names, got dict"),
        ({"groups": [["a"]]}, "filter 'groups' takes a name"),
        ({"platform": True}, "filter 'platform' takes a name"),
        ({"name_pattern": 3}, "filter 'name_pattern' takes a glob"),
        ({"data": "role=core"}, "filter 'data' takes a mapping"),
        ({"data": [{"role": "core"}, 3]}, "filter 'data' takes a mapping"),
    ],
)
def test_wrong_shapes_are_errors_before_any_host_is_looked_at(filters, message):
    with pytest.raises(FilterError, match=message):
        fm.validate_filters(filters)


def test_filters_must_be_a_mapping():
    with pytest.raises(FilterError, match="must be a mapping, got list"):
        fm.validate_filters(["hosts"])  # type: ignore[arg-type]


def test_calling_a_named_filter_matches_one_host(inv):
    r1 = inv.hosts["r1"]
    assert fm.FILTERS["groups"](r1, "backbone") and not fm.FILTERS["groups"](r1, ["edge", "fra"])
    assert fm.FILTERS["hosts"](r1, None)  # no filter


# -- unknown names and empty selections --------------------------------------------------------------


def test_an_unknown_filter_or_attribute_is_an_error_with_the_closest_name(inv):
    with pytest.raises(FilterError) as info:
        select(inv, {"rol": "core"})
    assert "unknown filter 'rol'" in info.value.message and "did you mean 'role'?" in info.value.message
    assert info.value.key == "rol" and info.value.exit_code == 3
    with pytest.raises(FilterError, match=r"unknown filter 'grups'.*did you mean 'groups'"):
        select(inv, {"grups": "core"})
    with pytest.raises(FilterError, match="unknown filter 'colour'"):
        select(inv, {"data": {"colour": "red"}})
    # a key some host has is known, even when the selection is empty
    with pytest.raises(NoHostsMatchedError):
        select(inv, {"enabled": "maybe"})


def test_no_host_selected_is_an_error_naming_the_filters(inv):
    with pytest.raises(NoHostsMatchedError) as info:
        fm.select_hosts(
            inv,
            ("inventory_filters", {"platform": "cisco_ios"}),
            ("--filter", {"site": ["xyz"], "role": ["core", "edge"]}),
        )
    error = info.value
    assert error.exit_code == 2 and isinstance(error, FilterError)
    assert (
        "no host matches the filters (inventory_filters: platform=cisco_ios; "
        "--filter: site=xyz, role=core|edge)" in error.message
    )
    assert "among the inventory's 4 host(s)" in error.message and "--allow-empty" in error.message
    assert error.filters == {
        "inventory_filters": {"platform": "cisco_ios"},
        "--filter": {"site": ["xyz"], "role": ["core", "edge"]},
    }
    assert names(fm.select_hosts(inv, ("f", {"site": "xyz"}), allow_empty=True)) == []


def test_unknown_host_and_group_names_get_a_hint(inv):
    with pytest.raises(
        NoHostsMatchedError, match=r"no group 'cor' in the inventory \(did you mean 'core'\?\)"
    ):
        select(inv, {"groups": "cor"})
    with pytest.raises(NoHostsMatchedError, match="no host 'r9' in the inventory"):
        select(inv, {"hosts": ["r9"]})


def test_an_empty_inventory_is_an_empty_selection_not_an_unknown_key():
    empty = inventory_from_data({})
    with pytest.raises(NoHostsMatchedError, match="among the inventory's 0 host"):
        select(empty, {"site": "ams"})
    assert fm.select_hosts(empty, ("f", {})) is empty  # no filter: nothing to check


def test_apply_filters_keeps_returning_possibly_empty_inventories(inv):
    assert names(fm.apply_filters(inv, {"site": "nowhere"})) == []
    everything = fm.apply_filters(inv, {})
    assert names(everything) == names(inv) and everything is not inv


def test_describe_filters():
    assert (
        fm.describe_filters({"a": "x", "b": ["y", "z"], "c": None, "d": {"k": [1]}})
        == "a=x, b=y|z, d={k: [1]}"
    )


# -- the command line --------------------------------------------------------------------------------


def test_parse_filters_repeated_keys_and_commas_both_mean_any_of():
    assert fm.parse_filters(["role=core", "role=edge"]) == {"role": ["core", "edge"]}
    assert fm.parse_filters(["role=core,edge"]) == {"role": ["core", "edge"]}
    assert fm.parse_filters(["hosts=r1, r2", "hosts=sw1", "site=ams"]) == {
        "hosts": ["r1", "r2", "sw1"],
        "site": ["ams"],
    }
    assert fm.parse_filters([r"description=uplink\, to core"]) == {"description": ["uplink, to core"]}
    assert fm.parse_filters(["mgmt_vlan=10"]) == {"mgmt_vlan": ["10"]}  # kept as typed
    assert fm.parse_filters(["data={role: core, site: ams}"]) == {"data": [{"role": "core", "site": "ams"}]}
    assert fm.parse_filters(["hosts=[r1, r2]"]) == {"hosts": ["r1", "r2"]}
    assert fm.parse_filters([r"description=\[lab] edge"]) == {"description": ["[lab] edge"]}
    assert fm.parse_filters(["a==b"]) == {"a": ["=b"]}
    assert fm.parse_filters([]) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("site", "--filter takes key=value, got 'site'"),
        ("=ams", "--filter takes key=value"),
        ("site=", "--filter site= has no value"),
        ("role=,", "--filter role= has no value"),
        ("hosts=[]", "--filter hosts= has no value"),
        ("data={role: [", "--filter data: '{role: [' is not valid YAML"),
    ],
)
def test_parse_filters_errors_are_usage_errors(item, message):
    with pytest.raises(UsageError) as info:
        fm.parse_filters([item])
    assert message in info.value.message and info.value.exit_code == 2


# -- the project's filter functions ------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


PROJECT_FILTERS = '''\
from nornir.core.inventory import Host


def in_vlan(host, vlan) -> bool:
    """Hosts whose management VLAN is this one."""
    return host.get("mgmt_vlan") == int(vlan)


def is_cisco(host: Host) -> bool:
    """Cisco devices."""
    return str(host.platform).startswith("cisco")


def tier_and_site(host, tier, site="ams") -> bool:
    """Hosts of a tier at a site."""
    return host.get("tier") == tier and host.get("site") == site


def needs_options(host, *, strict) -> bool:
    return strict


def explodes(host, value) -> bool:
    raise KeyError("nope")


def helper(x):
    return x


def _private(host):
    return True
'''


@pytest.fixture
def project_filters(tmp_path, isolated_filters):
    path = write(tmp_path / "filters" / "site.py", PROJECT_FILTERS)
    loaded = fm.load_filter_dirs([tmp_path / "filters", tmp_path / "missing"])
    return path, loaded


def test_project_filter_functions_are_the_public_ones_taking_host_first(project_filters):
    path, loaded = project_filters
    assert sorted(f.name for f in loaded) == [
        "explodes",
        "in_vlan",
        "is_cisco",
        "needs_options",
        "tier_and_site",
    ]
    assert "helper" not in fm.FILTERS and "_private" not in fm.FILTERS
    spec = fm.FILTERS["in_vlan"]
    assert spec.source == str(path) and spec.description == "Hosts whose management VLAN is this one."
    assert spec.takes == "value(s) or mapping" and fm.FILTERS["is_cisco"].takes == "true/false"
    assert fm.FILTERS["needs_options"].takes == "mapping"


def test_project_filters_follow_the_same_rules(inv, project_filters):
    assert select(inv, {"in_vlan": 10}) == ["r1", "sw1"]
    assert select(inv, {"in_vlan": ["20", "30"]}) == ["fw1", "r2"]  # any of; CLI strings too
    assert select(inv, {"in_vlan": None}) == names(inv)  # a value filter given null: no filter
    assert select(inv, {"is_cisco": True}) == ["r1", "r2"]
    assert select(inv, {"is_cisco": None}) == ["r1", "r2"]  # a flag: null applies it
    assert select(inv, {"is_cisco": "false"}) == ["fw1", "sw1"]
    assert select(inv, {"is_cisco": [True, False]}) == names(inv)
    assert select(inv, {"is_cisco": []}, allow_empty=True) == []
    assert select(inv, {"tier_and_site": {"tier": 1, "site": "fra"}}) == ["r2"]  # mapping: keywords
    assert select(inv, {"tier_and_site": [{"tier": 1}, {"tier": 1, "site": "fra"}]}) == ["r1", "r2"]
    assert select(inv, {"is_cisco": True, "site": "ams"}) == ["r1"]
    assert fm.host_matches(inv.hosts["r2"], {"in_vlan": 20})


def test_project_filter_misuse_is_a_clear_error(inv, project_filters):
    with pytest.raises(FilterError, match=r"filter 'is_cisco' takes no value: use is_cisco: true"):
        select(inv, {"is_cisco": "cisco"})
    with pytest.raises(
        FilterError, match=r"filter 'tier_and_site' \(.*site.py\) cannot take .*missing a required"
    ):
        fm.validate_filters({"tier_and_site": {"site": "fra"}})  # no "tier"
    with pytest.raises(FilterError, match=r"filter 'needs_options' .* cannot take 1"):
        fm.validate_filters({"needs_options": 1})
    with pytest.raises(FilterError) as info:
        select(inv, {"explodes": 1})
    assert "filter 'explodes'" in info.value.message and "failed: KeyError: 'nope'" in info.value.message
    assert info.value.host == "r1"


def test_the_same_project_filter_in_two_files_is_an_error(tmp_path, isolated_filters):
    write(tmp_path / "filters" / "a.py", "def nf_dup(host):\n    return True\n")
    write(tmp_path / "filters" / "b.py", "def nf_dup(host):\n    return False\n")
    with pytest.raises(FilterImportError, match="inventory filter 'nf_dup' is defined twice") as info:
        fm.load_filter_dirs([tmp_path / "filters"])
    assert info.value.file.endswith("b.py") and "nf_dup" not in fm.FILTERS


def test_a_filter_module_that_fails_to_import_names_the_file(tmp_path, isolated_filters):
    path = write(tmp_path / "filters" / "bad.py", "import no_such_module_abc\n")
    with pytest.raises(FilterImportError) as info:
        fm.load_filter_dirs([tmp_path / "filters"])
    assert info.value.file == str(path) and "ModuleNotFoundError" in info.value.message


def test_a_project_filter_replaces_a_builtin_with_a_warning(inv, tmp_path, isolated_filters, caplog):
    write(tmp_path / "filters" / "g.py", "def groups(host, value):\n    return host.name == value\n")
    with caplog.at_level(logging.WARNING, logger="nornflow.filters"):
        fm.load_filter_dirs([tmp_path / "filters"])
    assert "inventory filter 'groups'" in caplog.text and "replaces the built-in filter" in caplog.text
    assert select(inv, {"groups": "sw1"}) == ["sw1"]


# -- through the engine, the if hook and the CLI -----------------------------------------------------

runner = CliRunner()


def cli(*args: str, cwd: Path):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path, isolated_filters):
    create_project(tmp_path)
    write(
        tmp_path / "filters" / "lab.py",
        "def is_ios(host) -> bool:\n    return host.platform == 'cisco_ios'\n",
    )
    write(
        tmp_path / "workflows" / "roles.yaml",
        """\
        workflow:
          name: roles
          tasks:
            - name: echo
              args: {msg: "{{ host.role }}"}
        """,
    )
    return tmp_path


def hosts_of(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return sorted(json.loads(result.stdout)["hosts"])


def test_cli_repeated_keys_and_commas_mean_any_of(project):
    both = hosts_of(cli("run", "roles", "-f", "role=core,edge", "--json", cwd=project))
    assert both == ["r1", "r2"]
    assert hosts_of(cli("run", "roles", "-f", "role=core", "-f", "role=edge", "--json", cwd=project)) == both
    assert (
        hosts_of(
            cli(
                "run",
                "roles",
                "--filter",
                "groups=ams,fra",
                "-f",
                "platform=cisco_ios",
                "--json",
                cwd=project,
            )
        )
        == both
    )
    assert hosts_of(cli("run", "roles", "-f", "mgmt_vlan=10", "--json", cwd=project)) == ["r1", "sw1"]
    assert hosts_of(cli("run", "roles", "-f", "is_ios=true", "--json", cwd=project)) == both
    assert hosts_of(cli("run", "roles", "-f", "data={vendor: cisco}", "--json", cwd=project)) == both


def test_cli_filters_that_match_no_host_exit_2_naming_them(project):
    result = cli("run", "roles", "--filter", "site=xyz", "--filter", "role=core,edge", cwd=project)
    assert result.exit_code == 2
    assert "no host matches the filters (--filter: site=xyz, role=core|edge)" in result.output
    assert "OK 0 host(s)" not in result.output
    allowed = cli("run", "roles", "--filter", "site=xyz", "--allow-empty", cwd=project)
    assert allowed.exit_code == 0 and "OK 0 host(s)" in allowed.output


def test_cli_filter_errors(project):
    result = cli("run", "roles", "-f", "rol=core", cwd=project)
    assert (
        result.exit_code == 2
        and "unknown filter 'rol'" in result.output
        and "did you mean 'role'" in result.output
    )
    result = cli("run", "roles", "-f", "site", cwd=project)
    assert result.exit_code == 2 and "--filter takes key=value" in result.output


def test_workflow_filters_with_nulls_and_empty_selection(project):
    write(
        project / "workflows" / "nulls.yaml",
        """\
        workflow:
          name: nulls
          inventory_filters: {hosts: null, groups: [ams], role: null}
          tasks: [echo]
        """,
    )
    assert hosts_of(cli("run", "nulls", "--json", cwd=project)) == ["r1", "sw1"]
    write(
        project / "workflows" / "none.yaml",
        "workflow:\n  name: none\n  inventory_filters: {groups: [nowhere]}\n  tasks: [echo]\n",
    )
    result = cli("validate", "none", cwd=project)
    assert result.exit_code == 2 and "inventory_filters: groups=nowhere" in result.output
    assert cli("validate", "none", "--allow-empty", cwd=project).exit_code == 0
    assert cli("run", "none", cwd=project).exit_code == 2


def test_python_api_raises_on_an_empty_selection_unless_allowed(project):
    nf = NornFlow(Settings.load(project / "nornflow.yaml"))
    with pytest.raises(NoHostsMatchedError):
        nf.run("roles", filters={"site": "xyz"})
    result = nf.run("roles", filters={"site": "xyz"}, allow_empty=True)
    assert result.hosts == [] and result.exit_code == 0
    assert nf.run("roles", filters={"is_ios": True}).hosts == ["r1", "r2"]


def test_the_if_hook_takes_project_filters(project):
    nf = NornFlow(Settings.load(project / "nornflow.yaml"))
    result = nf.run({"workflow": {"name": "w", "tasks": [{"name": "echo", "if": {"is_ios": True}}]}})
    assert [r.host for r in result.tasks[0] if r.status == "ok"] == ["r1", "r2"]
    result = nf.run(
        {"workflow": {"name": "w", "tasks": [{"name": "echo", "if": {"role": ["core", "access"]}}]}}
    )
    assert [r.host for r in result.tasks[0] if r.status == "ok"] == ["r1", "sw1"]


def test_show_filters_lists_both_kinds_with_their_sources(project):
    write(
        project / "j2_filters" / "net.py",
        'def nf_show_vlan_name(vlan):\n    """A VLAN name."""\n    return f"VLAN{vlan}"\n',
    )
    result = cli("show", "filters", cwd=project)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Jinja2 filters" in out and "inventory filters" in out
    for name in (
        "regex_replace",
        "ipaddr",
        "json_query",
        "combine",
        "upper",
        "hosts",
        "name_pattern",
        "is_ios",
    ):
        assert name in out, name
    assert "nornflow (built-in)" in out and "jinja2 (built-in)" in out
    assert "nf_show_vlan_name" in out and "A VLAN name." in out and "j2_filters/net.py" in out
    assert "filters/lab.py" in out and "true/false" in out


# -- properties ---------------------------------------------------------------------------------------

filter_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=6), st.sampled_from(["core", "ams", "10"])
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=6,
)
filter_keys = st.sampled_from(
    ["hosts", "groups", "platform", "name_pattern", "data", "role", "site", "tags", "nope"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(filter_keys, filter_values, max_size=3))
def test_any_filter_mapping_selects_or_fails_with_a_filter_error(filters):
    inv = inventory_from_data(HOSTS, GROUPS)
    try:
        selected = fm.select_hosts(inv, ("f", filters), allow_empty=True)
    except FilterError as exc:
        assert exc.message and not isinstance(exc, NoHostsMatchedError)
        return
    assert set(selected.hosts) <= set(inv.hosts)
    # the same filters host by host (the if hook's way) select the same hosts
    assert sorted(selected.hosts) == sorted(n for n, h in inv.hosts.items() if fm.host_matches(h, filters))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab=,\\[]{}: \"'", max_size=12), max_size=3))
def test_parse_filters_gives_lists_or_a_usage_error(items):
    try:
        parsed = fm.parse_filters(items)
    except UsageError as exc:
        assert exc.exit_code == 2
        return
    assert all(isinstance(v, list) and v for v in parsed.values())
    assert all(k and k == k.strip() for k in parsed)
