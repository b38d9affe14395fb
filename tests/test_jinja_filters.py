"""nornflow's Jinja2 filter library, filter by filter, and the loader of a project's filter modules."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys
import textwrap
import threading
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import FilterArgumentError
from typer.testing import CliRunner

from nornflow import jinja_filters as jf
from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.exceptions import FilterImportError
from nornflow.freeze import freeze
from nornflow.templating import TemplateError, compile_args, compile_expression, environment


def render(template: str, **context: object) -> object:
    """Render ``template`` in nornflow's environment (a whole expression keeps its type)."""
    return compile_args({"v": template}).render(context)["v"]


@pytest.fixture
def isolated_filters():
    """Undo whatever a test registers in the process-global environment and project registry."""
    filters = dict(environment.filters)
    project = dict(jf._PROJECT)
    yield
    environment.filters.clear()
    environment.filters.update(filters)
    jf._PROJECT.clear()
    jf._PROJECT.update(project)


def test_every_builtin_is_registered_with_a_description():
    for name, func in jf.BUILTIN_FILTERS.items():
        assert environment.filters[name] is func
        assert jf._describe(func), name
    assert environment.filters["upper"] is jinja2.filters.FILTERS["upper"]  # Jinja2's stay


# -- regular expressions -----------------------------------------------------------------------------


def test_regex_replace():
    assert jf.regex_replace("Gi0/1 Gi0/2", r"Gi(\d)", r"GigabitEthernet\1") == (
        "GigabitEthernet0/1 GigabitEthernet0/2"
    )
    assert jf.regex_replace("a-b-c", "-", "", count=1) == "ab-c"
    assert jf.regex_replace("ROUTER", "router", "sw", ignorecase=True) == "sw"
    assert jf.regex_replace("x\ny", "^", "> ", multiline=True) == "> x\n> y"
    assert jf.regex_replace("x\ny", "^", "> ") == "> x\ny"
    assert jf.regex_replace(1234, r"\d$", "X") == "123X"  # numbers are matched as text
    # NornFlow 1.0's fourth argument: re flags as a number (2 is re.IGNORECASE)
    assert jf.regex_replace("ROUTER-nyc", "NYC", "LAX", 2) == "ROUTER-LAX"
    assert render("{{ 'a.b' | regex_replace('\\\\.', '_') }}") == "a_b"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: jf.regex_replace("x", "("), "regex_replace: invalid regular expression '('"),
        (lambda: jf.regex_replace("x", "x", r"\2"), "regex_replace: invalid replacement"),
        (lambda: jf.regex_replace(None, "x"), "regex_replace: expects a string, got NoneType"),
        (lambda: jf.regex_replace(["a"], "x"), "expects a string, got list"),
        (lambda: jf.regex_replace("x", "x", count=-1), "count must be"),
        (lambda: jf.regex_search("x", "[", 1), "regex_search: invalid regular expression"),
        (lambda: jf.regex_search("x", "(x)", 2), "has no group"),
        (lambda: jf.regex_search("x", "(x)", "\\q"), "bad group reference"),
        (lambda: jf.regex_search("x", "(x)", 1.5), "a group is a number or a name"),
        (lambda: jf.regex_findall("x", "x", ignorecase="yes"), "ignorecase must be true or false"),
    ],
)
def test_regex_errors_are_readable(call, message):
    with pytest.raises(FilterArgumentError, match=message.replace("(", r"\(").replace("[", r"\[")):
        call()


def test_regex_search_groups():
    text = "Cisco IOS Software, Version 15.2(4)M7"
    assert jf.regex_search(text, r"Version (\S+)") == "Version 15.2(4)M7"
    assert jf.regex_search(text, r"Version (\S+)", 1) == "15.2(4)M7"
    assert jf.regex_search(text, r"Version (?P<v>\d+)\.(\d+)", "v", 2) == ["15", "2"]
    # Ansible-style back references always give a list
    assert jf.regex_search(text, r"Version (\d+)", "\\1") == ["15"]
    assert jf.regex_search(text, r"Version (?P<major>\d+)", "\\g<major>") == ["15"]
    assert jf.regex_search(text, r"junos") is None
    assert jf.regex_search(text, r"cisco", ignorecase=True) == "Cisco"
    assert jf.regex_search("a\nb", r"^b$", multiline=True) == "b"
    assert jf.regex_search("ab", r"a(x)?b", 1) is None  # an optional group that did not take part


def test_regex_findall_and_escape():
    assert jf.regex_findall("vlan 10, vlan 20", r"vlan (\d+)") == ["10", "20"]
    assert jf.regex_findall("a1 b2", r"([a-z])(\d)") == [["a", "1"], ["b", "2"]]
    assert jf.regex_findall("A a", "a", ignorecase=True) == ["A", "a"]
    assert jf.regex_findall("", "x") == []
    assert jf.regex_escape("10.0.0.1 (x)") == r"10\.0\.0\.1\ \(x\)"
    assert jf.regex_search("10.0.0.1", jf.regex_escape("0.0")) == "0.0"


# -- YAML and JSON -----------------------------------------------------------------------------------


def test_yaml_round_trip_and_layouts():
    data = {"b": [1, {"c": "é"}], "a": None}
    text = jf.to_yaml(data)
    assert text == "b:\n- 1\n- c: é\na: null\n"  # key order kept, unicode as is
    assert jf.from_yaml(text) == data
    assert jf.to_nice_yaml({"a": {"b": 1}}) == "a:\n    b: 1\n"
    assert jf.to_yaml(freeze({"x": [1, 2]})) == "x:\n- 1\n- 2\n"  # frozen hook values write as plain ones
    assert jf.to_yaml({"s": {3, 1}}) == "s:\n- 1\n- 3\n"
    assert jf.from_yaml({"already": "parsed"}) == {"already": "parsed"}
    assert jf.from_yaml("") is None


def test_yaml_errors():
    with pytest.raises(FilterArgumentError, match=r"from_yaml: invalid YAML at line 2, column"):
        jf.from_yaml("a: 1\n b: [")
    with pytest.raises(FilterArgumentError, match="from_yaml: expects a string"):
        jf.from_yaml(None)
    with pytest.raises(FilterArgumentError, match="to_yaml: cannot write object"):
        jf.to_yaml(object())
    with pytest.raises(FilterArgumentError, match="indent must be"):
        jf.to_yaml({}, indent=0)
    with pytest.raises(FilterArgumentError):  # !!python tags are refused
        jf.from_yaml("!!python/object/apply:os.system ['true']")


def test_json_filters():
    data = {"b": 1, "a": [1, "é"]}
    assert jf.to_json(data) == '{"b": 1, "a": [1, "\\u00e9"]}'
    assert jf.to_json(data, ensure_ascii=False) == '{"b": 1, "a": [1, "é"]}'
    assert jf.to_json(data, sort_keys=True, indent=1) == '{\n "a": [\n  1,\n  "\\u00e9"\n ],\n "b": 1\n}'
    assert jf.to_nice_json({"b": 1, "a": 2}) == '{\n    "a": 2,\n    "b": 1\n}'
    assert (
        jf.to_json({"ip": ipaddress.ip_address("192.0.2.1"), "s": {2, 1}})
        == '{"ip": "192.0.2.1", "s": [1, 2]}'
    )
    assert jf.to_json(freeze({"a": [1]})) == '{"a": [1]}'
    assert jf.from_json('{"a": [1, null]}') == {"a": [1, None]}
    assert jf.from_json([1]) == [1]
    with pytest.raises(FilterArgumentError, match=r"from_json: invalid JSON at line 1, column 6"):
        jf.from_json('{"a":}')
    with pytest.raises(FilterArgumentError, match="to_json: cannot write dict"):
        jf.to_json({1: "a", "b": 2}, sort_keys=True)
    with pytest.raises(FilterArgumentError, match="indent must be"):
        jf.to_json({}, indent=-1)


# -- dictionaries and lists --------------------------------------------------------------------------


def test_combine():
    base = {"ntp": {"server": "a", "source": "lo0"}, "vlans": [10], "x": 1}
    extra = {"ntp": {"server": "b"}, "vlans": [20]}
    assert jf.combine(base, extra) == {"ntp": {"server": "b"}, "vlans": [20], "x": 1}
    assert jf.combine(base, extra, recursive=True) == {
        "ntp": {"server": "b", "source": "lo0"},
        "vlans": [20],
        "x": 1,
    }
    assert base["ntp"] == {"server": "a", "source": "lo0"}  # inputs are never changed
    assert jf.combine([{"a": 1}, {"b": 2}], {"a": 3}) == {"a": 3, "b": 2}
    assert jf.combine({}) == {}
    merges = {
        "replace": [2, 3],
        "keep": [1, 2],
        "append": [1, 2, 2, 3],
        "prepend": [2, 3, 1, 2],
        "append_rp": [1, 2, 3],
        "prepend_rp": [2, 3, 1],
    }
    for how, expected in merges.items():
        assert jf.combine({"l": [1, 2]}, {"l": [2, 3]}, list_merge=how) == {"l": expected}, how
    assert jf.combine({"a": {"l": [1]}}, {"a": {"l": [2]}}, recursive=True, list_merge="append") == {
        "a": {"l": [1, 2]}
    }
    with pytest.raises(FilterArgumentError, match="combine: argument 2 must be a mapping, got str"):
        jf.combine({}, "x")
    with pytest.raises(FilterArgumentError, match="list_merge must be one of"):
        jf.combine({}, list_merge="merge")


def test_dict2items_and_items2dict():
    data = {"Gi0/1": 10, "Gi0/2": 20}
    items = jf.dict2items(data)
    assert items == [{"key": "Gi0/1", "value": 10}, {"key": "Gi0/2", "value": 20}]
    assert jf.items2dict(items) == data
    named = jf.dict2items(data, key_name="port", value_name="vlan")
    assert named[0] == {"port": "Gi0/1", "vlan": 10}
    assert jf.items2dict(named, key_name="port", value_name="vlan") == data
    assert jf.dict2items({}) == [] and jf.items2dict([]) == {}
    with pytest.raises(FilterArgumentError, match="dict2items: expects a mapping, got list"):
        jf.dict2items([1])
    with pytest.raises(FilterArgumentError, match="items2dict: item 1 has no key 'value'"):
        jf.items2dict([{"key": 1, "value": 2}, {"key": 3}])
    with pytest.raises(FilterArgumentError, match="item 0 is not a mapping"):
        jf.items2dict(["x"])
    with pytest.raises(FilterArgumentError, match="is not hashable"):
        jf.items2dict([{"key": [1], "value": 2}])


def test_flatten():
    assert jf.flatten([1, [2, [3, [4]]], (5,)]) == [1, 2, 3, 4, 5]
    assert jf.flatten([1, [2, [3, [4]]]], levels=1) == [1, 2, [3, [4]]]
    assert jf.flatten([1, [2]], levels=0) == [1, [2]]
    assert jf.flatten([None, [None, 1]]) == [1]
    assert jf.flatten([None, [None, 1]], skip_nulls=False) == [None, None, 1]
    assert jf.flatten([{"a": [1]}, "ab"]) == [{"a": [1]}, "ab"]  # only lists are flattened
    deep: list = [1]
    for _ in range(5000):
        deep = [deep]
    assert jf.flatten(deep) == [1]  # no recursion limit
    with pytest.raises(FilterArgumentError, match="flatten: expects a list, got str"):
        jf.flatten("abc")
    with pytest.raises(FilterArgumentError, match="levels must be"):
        jf.flatten([], levels=-1)


def test_unique():
    assert jf.unique([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert jf.unique(["Gi0/1", "gi0/1", "Gi0/1"]) == ["Gi0/1", "gi0/1"]  # case-sensitive by default
    assert jf.unique(["Gi0/1", "gi0/1"], case_sensitive=False) == ["Gi0/1"]
    assert jf.unique([{"a": 1}, {"a": 1}, [1], [1], 1]) == [{"a": 1}, [1], 1]  # unhashable items too
    vlans = [{"id": 10, "n": "a"}, {"id": 20, "n": "b"}, {"id": 10, "n": "c"}]
    assert jf.unique(vlans, attribute="id") == vlans[:2]
    assert jf.unique([{"a": {"b": 1}}, {"a": {"b": 1}}], attribute="a.b") == [{"a": {"b": 1}}]
    assert jf.unique(x for x in [1, 1]) == [1]
    assert render("{{ ['b', 'a', 'b'] | unique | list }}") == ["b", "a"]
    with pytest.raises(FilterArgumentError, match="unique: expects a list, got str"):
        jf.unique("aab")
    with pytest.raises(FilterArgumentError, match="has no attribute 'id'"):
        jf.unique([{"x": 1}], attribute="id")


# -- IP addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "query", "expected"),
    [
        ("192.0.2.5", "", "192.0.2.5"),
        (" 192.0.2.5/24 ", "", "192.0.2.5/24"),
        ("192.0.2.5/255.255.255.0", "", "192.0.2.5/24"),
        ("2001:DB8::1", "", "2001:db8::1"),
        (3221225985, "", "192.0.2.1"),
        (ipaddress.ip_network("192.0.2.0/24"), "", "192.0.2.0/24"),
        ("192.0.2.5/24", "address", "192.0.2.5"),
        ("192.0.2.5/24", "host", "192.0.2.5/24"),
        ("192.0.2.5", "host", "192.0.2.5/32"),
        ("192.0.2.0/24", "host", False),
        ("192.0.2.0/31", "host", "192.0.2.0/31"),
        ("192.0.2.5/24", "network", "192.0.2.0"),
        ("192.0.2.0/24", "net", "192.0.2.0/24"),
        ("192.0.2.5/24", "net", False),
        ("192.0.2.5", "net", False),
        ("192.0.2.5/24", "subnet", "192.0.2.0/24"),
        ("192.0.2.5/24", "cidr", "192.0.2.0/24"),
        ("192.0.2.5/24", "prefix", 24),
        ("0.0.0.0/0", "prefix", 0),
        ("192.0.2.5/24", "netmask", "255.255.255.0"),
        ("192.0.2.5/24", "hostmask", "0.0.0.255"),
        ("192.0.2.5/24", "broadcast", "192.0.2.255"),
        ("192.0.2.5/31", "broadcast", False),
        ("2001:db8::1/64", "broadcast", False),
        ("192.0.2.5/24", "size", 256),
        ("192.0.2.5/24", "size_usable", 254),
        ("192.0.2.0/31", "size_usable", 2),
        ("192.0.2.5/24", "first_usable", "192.0.2.1"),
        ("192.0.2.5/24", "last_usable", "192.0.2.254"),
        ("192.0.2.0/31", "first_usable", "192.0.2.0"),
        ("192.0.2.0/31", "last_usable", "192.0.2.1"),
        ("192.0.2.7/32", "first_usable", "192.0.2.7"),
        ("2001:db8::/126", "range_usable", "2001:db8::1-2001:db8::3"),
        ("192.0.2.5", "version", 4),
        ("::1", "version", 6),
        ("192.0.2.1", "int", 3221225985),
        ("192.0.2.1", "revdns", "1.2.0.192.in-addr.arpa."),
        ("2001:db8::1/64", "wrap", "[2001:db8::1]/64"),
        ("192.0.2.1", "wrap", "192.0.2.1"),
        ("8.8.8.8", "public", "8.8.8.8"),
        ("10.1.1.1/8", "public", False),
        ("10.1.1.1/8", "private", "10.1.1.1/8"),
        ("127.0.0.1", "loopback", "127.0.0.1"),
        ("224.0.0.5", "multicast", "224.0.0.5"),
        ("224.0.0.5", "unicast", False),
        ("fe80::1", "link-local", "fe80::1"),
        ("169.254.0.1", "link_local", "169.254.0.1"),
        ("0.0.0.0", "unspecified", "0.0.0.0"),
        ("192.0.2.5", "ipv6", False),
        ("192.0.2.5", "IPv4", "192.0.2.5"),
        ("192.0.2.0/24", 5, "192.0.2.5/24"),
        ("192.0.2.0/24", -1, "192.0.2.255/24"),
        ("192.0.2.0/30", 4, False),
        ("192.0.2.9", "192.0.2.0/24", "192.0.2.9"),
        ("192.0.2.9/24", "192.0.2.0/25", "192.0.2.9/24"),
        ("192.0.2.0/24", "192.0.2.0/25", False),  # a network: inside only if it is a subnet
        ("192.0.2.0/26", "192.0.2.0/24", "192.0.2.0/26"),
        ("192.0.3.9", "192.0.2.0/24", False),
        ("::1", "192.0.2.0/24", False),
    ],
)
def test_ipaddr_queries(value, query, expected):
    assert jf.ipaddr(value, query) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "router1",
        "192.0.2",
        "192.0.2.256",
        "192.0.02.1",
        "1",
        "10",
        "192.0.2.1/33",
        "::g",
        None,
        True,
        -1,
        2**128,
        1.5,
        {"a": 1},
        b"192.0.2.1",
        "192.0.2.1 junk",
        "x" * 1000,
    ],
)
def test_non_addresses_are_false_for_every_query(value):
    for query in jf.IP_QUERIES:
        assert jf.ipaddr(value, query) is False, query
    assert jf.ipv4(value) is False and jf.ipv6(value) is False and jf.ipnet(value) is False
    assert jf.nthhost(value, 1) is False and jf.network_in_network(value, "192.0.2.1") is False


def test_ip_lists_keep_only_the_addresses():
    values = ["192.0.2.1", "router", "2001:db8::1", None, "10.0.0.0/8"]
    assert jf.ipaddr(values) == ["192.0.2.1", "2001:db8::1", "10.0.0.0/8"]
    assert jf.ipv4(values) == ["192.0.2.1", "10.0.0.0/8"]
    assert jf.ipv6(values) == ["2001:db8::1"]
    assert jf.ipaddr(values, "prefix") == [32, 128, 8]
    assert jf.ipaddr(["0.0.0.0/0"], "prefix") == [0]  # a falsy answer is still an answer
    assert jf.ipv4(values, "address") == ["192.0.2.1", "10.0.0.0"]
    assert jf.ipnet(["192.0.2.5/24", "x"]) == ["192.0.2.0/24"]
    assert render("{{ addrs | ipv4('private') }}", addrs=["10.0.0.1", "8.8.8.8"]) == ["10.0.0.1"]
    assert render("{{ '10.0.0.1' | ipaddr }}") == "10.0.0.1"
    assert compile_expression("'x' | ipaddr").evaluate({}) is False
    assert compile_expression("'192.0.2.1' | ipaddr").evaluate({}) == "192.0.2.1"


def test_unknown_query_is_an_error():
    with pytest.raises(FilterArgumentError, match=r"ipaddr: unknown query 'bogus' \(queries: 'address'"):
        jf.ipaddr("192.0.2.1", "bogus")
    with pytest.raises(FilterArgumentError, match="ipv4: unknown query"):
        jf.ipv4("not an address", [1])  # a bad query is a template bug, whatever the value


def test_ip_friends():
    assert jf.ipnet("192.0.2.5/24") == "192.0.2.0/24" and jf.ipnet("192.0.2.5") == "192.0.2.5/32"
    assert jf.ipwrap("2001:db8::1") == "[2001:db8::1]" and jf.ipwrap("router1") == "router1"
    assert jf.ipwrap(["::1", "192.0.2.1", "r1"]) == ["[::1]", "192.0.2.1", "r1"]
    assert jf.ipmath("192.0.2.1", 5) == "192.0.2.6" and jf.ipmath("192.0.2.1/24", -1) == "192.0.2.0/24"
    assert jf.ipmath("2001:db8::ffff", 1) == "2001:db8::1:0"
    with pytest.raises(FilterArgumentError, match="ipmath: 'router1' is not an IP address"):
        jf.ipmath("router1", 1)
    with pytest.raises(FilterArgumentError, match="out of range"):
        jf.ipmath("255.255.255.255", 1)
    assert jf.nthhost("10.0.0.0/30", 2) == "10.0.0.2" and jf.nthhost("10.0.0.0/30", 9) is False
    assert jf.nthhost("10.0.0.0/30", -1) == "10.0.0.3"
    assert jf.network_in_network("10.0.0.0/8", "10.1.0.0/16") is True
    assert jf.network_in_network("10.0.0.0/8", "10.1.2.3") is True
    assert jf.network_in_network("10.1.0.0/16", "10.0.0.0/8") is False
    assert jf.network_in_network("10.0.0.0/8", "::1") is False
    assert jf.cidr_merge(["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24", "::/1", "8000::/1"]) == [
        "10.0.0.0/23",
        "::/0",
    ]
    assert jf.cidr_merge(["192.0.2.1", "192.0.2.0"]) == ["192.0.2.0/31"]
    assert jf.cidr_merge(["10.0.0.0/24", "10.0.3.0/24"], "span") == "10.0.0.0/22"
    assert jf.cidr_merge(["::1", "::2"], "span") == "::/126"
    assert jf.cidr_merge([], "span") is None and jf.cidr_merge([]) == []
    with pytest.raises(FilterArgumentError, match="cidr_merge: 'r1' is not an IP address"):
        jf.cidr_merge(["r1"])
    with pytest.raises(FilterArgumentError, match="cannot span IPv4 and IPv6"):
        jf.cidr_merge(["::1", "10.0.0.1"], "span")


text_or_anything = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789abcdef.:/% ", max_size=45),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.text(alphabet="0123456789.:/", max_size=20), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(value=text_or_anything, query=st.sampled_from(sorted(jf.IP_QUERIES)))
def test_ip_filters_never_raise_on_any_value(value, query):
    for answer in (jf.ipaddr(value, query), jf.ipv4(value, query), jf.ipv6(value, query), jf.ipnet(value)):
        if isinstance(value, list):
            assert isinstance(answer, list)
        else:
            assert answer is False or isinstance(answer, (str, int))
    jf.ipwrap(value)
    jf.nthhost(value, 0)
    jf.network_in_network(value, value if not isinstance(value, list) else "::")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.ip_addresses(), st.ip_addresses(v=4).map(lambda a: ipaddress.ip_network(f"{a}/24", strict=False))
    )
)
def test_ipaddr_accepts_every_real_address_and_network(value):
    text = str(value)
    assert jf.ipaddr(text) == text
    parsed = ipaddress.ip_interface(text)
    assert jf.ipaddr(text, "address") == str(parsed.ip)
    assert jf.ipaddr(text, "version") == parsed.version


# -- encodings, hashes and JMESPath ------------------------------------------------------------------


def test_base64():
    assert jf.b64encode("admin:secret") == "YWRtaW46c2VjcmV0"
    assert jf.b64decode("YWRtaW46c2VjcmV0") == "admin:secret"
    assert jf.b64decode(jf.b64encode("héllo")) == "héllo"
    assert jf.b64decode("YWRt\naW46\n") == "adm" + "in:"  # line breaks (PEM style) are ignored
    assert jf.b64encode(b"\x00\xff") == "AP8="
    assert jf.b64decode(jf.b64encode("é", encoding="latin-1"), encoding="latin-1") == "é"
    with pytest.raises(FilterArgumentError, match="b64decode: not valid base64"):
        jf.b64decode("abc")
    with pytest.raises(FilterArgumentError, match="b64decode: the decoded bytes are not utf-8 text"):
        jf.b64decode("/w==")
    with pytest.raises(FilterArgumentError, match="unknown encoding 'nope'"):
        jf.b64encode("x", encoding="nope")
    with pytest.raises(FilterArgumentError, match="b64encode: expects a string"):
        jf.b64encode(None)


def test_hash():
    assert jf.hash_value("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # sha1 by default
    assert jf.hash_value("abc", "sha256").startswith("ba7816bf8f01cfea")
    assert jf.hash_value("abc", "MD5") == "900150983cd24fb0d6963f7d28e17f72"
    assert jf.hash_value(b"abc", "sha1") == jf.hash_value("abc")
    assert jf.hash_value(42) == jf.hash_value("42")
    assert render("{{ 'abc' | hash('sha256') }}") == jf.hash_value("abc", "sha256")
    with pytest.raises(FilterArgumentError, match=r"hash: unknown or unavailable algorithm 'sha7'.*sha256"):
        jf.hash_value("abc", "sha7")
    with pytest.raises(FilterArgumentError, match="needs a digest length"):
        jf.hash_value("abc", "shake_128")
    with pytest.raises(FilterArgumentError, match="hash: expects a string, got dict"):
        jf.hash_value({"a": 1})


def test_json_query():
    pytest.importorskip("jmespath")
    interfaces = [
        {"name": "Gi0/1", "enabled": True, "vlan": 10},
        {"name": "Gi0/2", "enabled": False, "vlan": 20},
    ]
    assert jf.json_query(interfaces, "[?enabled].name") == ["Gi0/1"]
    assert jf.json_query({"a": {"b": [1, 2]}}, "a.b[-1]") == 2
    assert jf.json_query(freeze({"a": [{"b": 1}]}), "a[0].b") == 1  # frozen values are queried too
    assert jf.json_query({}, "missing") is None
    assert render("{{ ifs | json_query('[*].vlan') }}", ifs=interfaces) == [10, 20]
    with pytest.raises(FilterArgumentError, match="json_query: invalid JMESPath expression '\\[\\?'"):
        jf.json_query({}, "[?")
    with pytest.raises(FilterArgumentError, match="json_query: 'abs\\(a\\)'"):
        jf.json_query({"a": "x"}, "abs(a)")


def test_json_query_without_jmespath_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jmespath", None)
    monkeypatch.setitem(sys.modules, "jmespath.exceptions", None)
    with pytest.raises(
        FilterArgumentError, match=r"needs the 'jmespath' package: pip install 'nornflow\[jmespath\]'"
    ):
        jf.json_query({"a": 1}, "a")


# -- through the templating layer --------------------------------------------------------------------


def test_filter_errors_become_template_errors_without_noise():
    args = compile_args({"cfg": "{{ desc | regex_replace('(', '') }}"})
    with pytest.raises(TemplateError) as info:
        args.render({"desc": "uplink"})
    assert (
        str(info.value) == "cfg: regex_replace: invalid regular expression '(': "
        "missing ), unterminated subpattern at position 0"
    )


def test_an_undefined_variable_stays_an_undefined_error():
    for template in (
        "{{ nope | ipaddr }}",
        "{{ nope | to_json }}",
        "{{ nope | regex_search('x') }}",
        "{{ nope | combine({}) }}",
        "{{ {} | combine(nope) }}",
    ):
        with pytest.raises(TemplateError) as info:
            compile_args({"v": template}).render({})
        assert info.value.undefined == "nope", template


def test_filters_are_safe_to_use_from_many_threads():
    args = compile_args({"v": "{{ ip | ipaddr('subnet') }} {{ name | regex_replace('(\\\\d+)', 'n\\\\1') }}"})
    errors: list[BaseException] = []
    results: dict[int, str] = {}

    def work(k: int) -> None:
        try:
            for i in range(200):
                n = k * 1000 + i
                out = args.render({"ip": f"10.{k}.{i % 250}.1/24", "name": f"r{n}"})["v"]
                assert out == f"10.{k}.{i % 250}.0/24 rn{n}"
            results[k] = "ok"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8


# -- the project's filter modules --------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_project_filters_are_the_public_functions_of_the_module(tmp_path, isolated_filters):
    write(
        tmp_path / "j2" / "naming.py",
        '''\
        from os.path import basename  # imported: not a filter

        def nf_test_prefix(value, prefix="NF_"):
            """Prefix a value."""
            return f"{prefix}{value}"

        def _helper(value):
            return value

        class NotAFilter:
            pass

        CONSTANT = 3
        ''',
    )
    write(tmp_path / "j2" / "sub" / "more.py", "def nf_test_shout(value):\n    return str(value).upper()\n")
    write(tmp_path / "j2" / "_private.py", "def nf_test_private(value):\n    return value\n")
    write(tmp_path / "j2" / ".hidden" / "x.py", "def nf_test_hidden(value):\n    return value\n")
    loaded = jf.load_j2_filter_dirs([tmp_path / "j2", tmp_path / "missing"], environment)
    assert sorted(i.name for i in loaded) == ["nf_test_prefix", "nf_test_shout"]
    assert render("{{ 'r1' | nf_test_prefix }}-{{ 'x' | nf_test_shout }}") == "NF_r1-X"
    assert render("{{ 'r1' | nf_test_prefix('LAB:') }}") == "LAB:r1"
    for name in ("basename", "_helper", "NotAFilter", "CONSTANT", "nf_test_private", "nf_test_hidden"):
        assert name not in environment.filters
    catalog = {i.name: i for i in jf.filter_catalog(environment)}
    assert catalog["nf_test_prefix"].source.endswith("naming.py")
    assert catalog["nf_test_prefix"].description == "Prefix a value."
    assert catalog["to_json"].source == "nornflow (built-in)"
    assert catalog["upper"].source == "jinja2 (built-in)"


def test_a_project_filter_replaces_a_builtin_with_a_warning(tmp_path, isolated_filters, caplog):
    write(
        tmp_path / "j2" / "mine.py",
        'def to_json(value):\n    """Project JSON."""\n    return "mine"\n'
        'def upper(value):\n    return "UP"\n',
    )
    with caplog.at_level(logging.WARNING, logger="nornflow.filters"):
        jf.load_j2_filter_dirs([tmp_path / "j2"], environment)
    assert "'to_json'" in caplog.text and "replaces the nornflow built-in filter" in caplog.text
    assert "'upper'" in caplog.text and "jinja2 built-in" in caplog.text
    assert render("{{ {} | to_json }} {{ 'a' | upper }}") == "mine UP"
    catalog = {i.name: i for i in jf.filter_catalog(environment)}
    assert catalog["to_json"].overrides == "nornflow built-in" and catalog["to_json"].source.endswith(
        "mine.py"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nornflow.filters"):
        jf.load_j2_filter_dirs([tmp_path / "j2"], environment)  # the same project again: no new warning
    assert caplog.text == ""


def test_the_same_filter_in_two_files_is_an_error_naming_both(tmp_path, isolated_filters):
    write(tmp_path / "j2" / "a.py", "def nf_test_dup(value):\n    return 1\n")
    write(tmp_path / "j2" / "b.py", "def nf_test_dup(value):\n    return 2\n")
    with pytest.raises(FilterImportError) as info:
        jf.load_j2_filter_dirs([tmp_path / "j2"], environment)
    assert "'nf_test_dup' is defined twice" in info.value.message
    assert "a.py" in info.value.message and info.value.file.endswith("b.py")
    assert "nf_test_dup" not in environment.filters  # nothing of a failed load is registered


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def broken(:\n", "cannot import Jinja2 filter module: SyntaxError"),
        ("raise RuntimeError('boom')\n", "cannot import Jinja2 filter module: RuntimeError: boom"),
        ("import sys\nsys.exit(3)\n", "Jinja2 filter module called exit(3)"),
        ("import no_such_module_xyz\n", "ModuleNotFoundError"),
    ],
)
def test_a_module_that_fails_to_import_is_an_error_naming_the_file(
    tmp_path, isolated_filters, source, message
):
    path = write(tmp_path / "j2" / "bad.py", source)
    with pytest.raises(FilterImportError) as info:
        jf.load_j2_filter_dirs([tmp_path / "j2"], environment)
    assert message in info.value.message and info.value.file == str(path)
    assert str(path) in str(info.value) and info.value.exit_code == 3


def test_a_separate_environment_can_be_loaded_into(tmp_path, isolated_filters):
    write(tmp_path / "j2" / "x.py", "def nf_test_only_here(value):\n    return 1\n")
    env = jinja2.Environment()
    jf.load_j2_filter_dirs([tmp_path / "j2"], env)
    assert "nf_test_only_here" in env.filters
    assert any(i.name == "nf_test_only_here" for i in jf.filter_catalog(env))


# -- through the engine and the CLI ------------------------------------------------------------------


def test_the_engine_loads_j2_filter_dirs_before_compiling_workflows(tmp_path, isolated_filters):
    create_project(tmp_path)
    settings = (tmp_path / "nornflow.yaml").read_text()
    (tmp_path / "nornflow.yaml").write_text(
        settings.replace("j2_filter_dirs: [j2_filters]", "j2_filter_dirs: lib/j2")
    )
    write(
        tmp_path / "lib" / "j2" / "ports.py",
        'def nf_e2e_short(name):\n    return name.replace("GigabitEthernet", "Gi")\n',
    )
    write(
        tmp_path / "workflows" / "ports.yaml",
        """\
        workflow:
          name: ports
          vars: {port: GigabitEthernet0/1}
          tasks:
            - name: echo
              args: {msg: "{{ port | nf_e2e_short }} {{ host.hostname | ipaddr('revdns') }}"}
        """,
    )
    write(
        tmp_path / "workflows" / "typo.yaml",
        "workflow:\n  name: typo\n  tasks:\n    - name: echo\n      args: {msg: '{{ 1 | nf_e2e_shorts }}'}\n",
    )
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["run", "ports", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["tasks"][0]["hosts"]["r1"]["result"] == "Gi0/1 11.2.0.192.in-addr.arpa."
        typo = CliRunner().invoke(app, ["validate", "typo"], catch_exceptions=False)
        assert typo.exit_code == 3 and "No filter named 'nf_e2e_shorts'" in typo.output
        write(tmp_path / "lib" / "j2" / "broken.py", "import no_such_module_for_j2\n")
        broken = CliRunner().invoke(app, ["run", "ports"], catch_exceptions=False)
        assert broken.exit_code == 3
        assert "broken.py" in broken.output and "cannot import Jinja2 filter module" in broken.output
    finally:
        os.chdir(old)
