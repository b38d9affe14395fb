"""Tests for nornflow.secrets: which keys are secret, masking data, text and log records."""

from __future__ import annotations

import io
import logging
import random
import string
import threading
from collections import OrderedDict, namedtuple
from collections.abc import Iterator
from types import MappingProxyType

import pytest

from nornflow.secrets import (
    MASK,
    SECRET_KEY_PATTERN,
    SecretMaskingFilter,
    SecretRegistry,
    is_secret_key,
    mask_data,
)

SECRET_KEYS = [
    "password",
    "PASSWORD",
    "Password",
    "enable_password",
    "passwd",
    "passwords",
    "secret",
    "enable_secret",
    "enableSecret",
    "client_secret",
    "token",
    "tokens",
    "access_token",
    "accessToken",
    "X-Auth-Token",
    "XAuthToken",
    "AUTH_TOKEN",
    "api_key",
    "apikey",
    "apiKey",
    "API-KEY",
    "private_key",
    "privateKey",
    "priv_key",
    "auth",
    "auth_key",
    "authKey",
    "Authorization",
    "community",
    "snmp_community",
    "snmp_communities",
    "ssh_passphrase",
    "pre_shared_key",
    "psk",
    "pwd",
    "pass",
    "db.password",
]

HARMLESS_KEYS = [
    "tokenizer_count",
    "tokenize",
    "author",
    "AUTHOR",
    "authority",
    "passive",
    "bypass",
    "compass",
    "passenger",
    "passthrough",
    "keyword",
    "monkey",
    "key",
    "pubkey",
    "hostname",
    "username",
    "platform",
    "port",
    "groups",
    "description",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)
    assert SECRET_KEY_PATTERN.search(key)


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_keys(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize("key", [None, 1, 1.5, ("password",), b"password", object()])
def test_non_string_keys_are_never_secret(key: object) -> None:
    assert not is_secret_key(key)


# ----------------------------------------------------------------------------------------- mask_data


def test_mask_data_masks_nested_secret_values_and_copies() -> None:
    data = {
        "hostname": "10.0.0.1",
        "password": "hunter22",
        "data": {"snmp_community": "public123", "vlans": [10, 20], "enable_secret": None},
        "connection_options": [{"extras": {"secret": "en4ble", "port": 22}}],
        "credentials": ("admin", {"api_key": 12345}),
    }
    masked = mask_data(data)
    assert masked == {
        "hostname": "10.0.0.1",
        "password": MASK,
        "data": {"snmp_community": MASK, "vlans": [10, 20], "enable_secret": None},
        "connection_options": [{"extras": {"secret": MASK, "port": 22}}],
        "credentials": ("admin", {"api_key": MASK}),
    }
    # The input is untouched and nothing mutable is shared.
    assert data["password"] == "hunter22"
    assert data["connection_options"][0]["extras"]["secret"] == "en4ble"
    assert masked["data"] is not data["data"]
    assert masked["data"]["vlans"] is not data["data"]["vlans"]


def test_mask_data_hides_whole_containers_under_secret_keys() -> None:
    masked = mask_data({"secrets": {"enable": "x", "login": "y"}, "snmp_communities": ["a", "b"]})
    assert masked == {"secrets": MASK, "snmp_communities": MASK}


def test_mask_data_handles_other_mappings_sets_and_named_tuples() -> None:
    creds = namedtuple("creds", "username password")
    data = OrderedDict(
        a=MappingProxyType({"token": "t0k3n"}),
        b={1, 2},
        c=frozenset({"x"}),
        d=creds("admin", "s3cr3t!"),
    )
    masked = mask_data(data)
    assert type(masked) is dict
    assert masked["a"] == {"token": MASK}
    assert masked["b"] == {1, 2} and type(masked["b"]) is set and masked["b"] is not data["b"]
    assert masked["c"] == frozenset({"x"}) and type(masked["c"]) is frozenset
    assert masked["d"] == creds("admin", MASK) and type(masked["d"]) is creds


def test_mask_data_leaves_other_objects_untouched() -> None:
    class Opaque:
        password = "inside"

    obj = Opaque()
    assert mask_data(obj) is obj
    assert mask_data("password") == "password"
    assert mask_data(None) is None
    assert mask_data(42) == 42
    assert mask_data({"x": obj})["x"] is obj


def test_mask_data_is_cycle_safe_and_keeps_sharing() -> None:
    shared = {"password": "p4ssw0rd"}
    data: dict = {"a": shared, "b": shared, "items": []}
    data["self"] = data
    data["items"].append(data["items"])
    data["tuple"] = (data["items"],)
    masked = mask_data(data)
    assert masked["self"] is masked
    assert masked["a"] is masked["b"] == {"password": MASK}
    assert masked["items"][0] is masked["items"]
    assert masked["tuple"][0] is masked["items"]


def test_mask_data_does_not_mask_values_only_keys() -> None:
    # Values that merely look like key names are data, not secrets.
    assert mask_data(["password", {"name": "token"}]) == ["password", {"name": "token"}]


# ------------------------------------------------------------------------------------ SecretRegistry


def test_registry_add_and_mask_text() -> None:
    reg = SecretRegistry()
    assert reg.mask_text("nothing known yet: hunter22") == "nothing known yet: hunter22"
    assert reg.add("hunter22") is True
    assert reg.add("hunter22") is False
    assert reg.add("abc") is False  # too short to mask safely
    assert reg.add(None) is False and reg.add(True) is False and reg.add(object()) is False
    assert reg.add(12345678) is True  # numbers print as text
    assert reg.add(b"byt3s!") is True
    assert len(reg) == 3
    assert "hunter22" in reg and 12345678 in reg and "abc" not in reg
    assert "hunter22" not in repr(reg)
    text = "login admin/hunter22, enable 12345678, key byt3s!, abc stays"
    assert reg.mask_text(text) == f"login admin/{MASK}, enable {MASK}, key {MASK}, abc stays"
    assert reg.mask_text("") == ""


def test_registry_masks_longest_secret_first() -> None:
    reg = SecretRegistry()
    for value in ("abcd", "abcdef", "abcdxyz", "a.b*c+d"):
        reg.add(value)
    assert reg.mask_text("abcdefg|abcdxy|abcdxyz|a.b*c+d|aXbYcZd") == (
        f"{MASK}g|{MASK}xy|{MASK}|{MASK}|aXbYcZd"
    )


def test_registry_pattern_is_rebuilt_when_secrets_change() -> None:
    reg = SecretRegistry()
    reg.add("first-secret")
    assert reg.mask_text("first-secret second-secret") == f"{MASK} second-secret"
    reg.add("second-secret")
    assert reg.mask_text("first-secret second-secret") == f"{MASK} {MASK}"


def test_registry_collect_walks_inventory_like_data() -> None:
    inventory = {
        "r1": {
            "hostname": "10.0.0.1",
            "username": "admin",
            "password": "r1-pass",
            "connection_options": {"netmiko": {"extras": {"secret": "r1-enable"}}},
            "data": {"snmp_communities": ["comm-ro", "comm-rw"], "tokens": {"api": "tok-123"}},
        },
        "defaults": {"password": "abc", "auth_key": 987654},  # too short / a number
    }
    inventory["loop"] = inventory
    assert SecretRegistry().collect(inventory) == 6
    reg = SecretRegistry()
    reg.collect(inventory)
    text = "admin@10.0.0.1 r1-pass r1-enable comm-ro comm-rw tok-123 987654 abc"
    assert reg.mask_text(text) == f"admin@10.0.0.1 {' '.join([MASK] * 6)} abc"
    assert reg.collect(inventory) == 0


def test_registry_is_fast_with_many_secrets() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    secrets = {"".join(rng.choices(alphabet, k=rng.randint(6, 20))) for _ in range(3000)}
    reg = SecretRegistry()
    reg.collect({"passwords": sorted(secrets)})
    assert len(reg) == len(secrets)
    picked = sorted(secrets)[::500]
    noise = "".join(rng.choices(string.ascii_lowercase + " ", k=50_000))
    text = noise + " " + " | ".join(picked)
    masked = reg.mask_text(text)
    assert not any(secret in masked for secret in picked)
    assert masked.endswith(" | ".join([MASK] * len(picked)))


def test_registry_thread_hammer() -> None:
    reg = SecretRegistry()
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                secret = f"t{n:02d}-secret-{i:03d}"
                reg.add(secret)
                # Our own add happened before, so it must be masked whatever other threads do.
                assert reg.mask_text(f"<{secret}>") == f"<{MASK}>"
                if i % 5 == 0:
                    reg.collect({"password": f"t{n:02d}-collected-{i:03d}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(reg) == 16 * 25 + 16 * 5
    everything = " ".join(
        [f"t{n:02d}-secret-{i:03d}" for n in range(16) for i in range(25)]
        + [f"t{n:02d}-collected-{i:03d}" for n in range(16) for i in range(0, 25, 5)]
    )
    assert set(reg.mask_text(everything).split(" ")) == {MASK}


# --------------------------------------------------------------------------------------- log filter


@pytest.fixture
def capture_logger() -> Iterator[tuple[logging.Logger, io.StringIO, SecretRegistry]]:
    """A private logger whose handler masks with a fresh registry."""
    reg = SecretRegistry()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(SecretMaskingFilter(reg))
    logger = logging.getLogger(f"nornflow.test_secrets.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, reg
    logger.removeHandler(handler)


def test_filter_masks_formatted_message(capture_logger: tuple) -> None:
    logger, stream, reg = capture_logger
    logger.info("connecting with %s", "hunter22")  # nothing registered yet
    reg.add("hunter22")
    logger.info("connecting with %s to %s", "hunter22", "r1")
    logger.warning("literal hunter22 in msg")
    logger.error("100%% sure: %s", "hunter22")  # the masked text is not %-formatted again
    lines = stream.getvalue().splitlines()
    assert lines == [
        "INFO connecting with hunter22",
        f"INFO connecting with {MASK} to r1",
        f"WARNING literal {MASK} in msg",
        f"ERROR 100% sure: {MASK}",
    ]


def test_filter_masks_tracebacks(capture_logger: tuple) -> None:
    logger, stream, reg = capture_logger
    reg.add("s3cr3t-value")
    try:
        raise RuntimeError("login failed for password s3cr3t-value")
    except RuntimeError:
        logger.exception("boom")
    output = stream.getvalue()
    assert "s3cr3t-value" not in output
    assert f"login failed for password {MASK}" in output
    assert "Traceback" in output


def test_filter_lets_broken_records_through(capture_logger: tuple) -> None:
    _, _, reg = capture_logger
    reg.add("hunter22")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("not-a-number",), None)
    assert SecretMaskingFilter(reg).filter(record) is True
    assert record.msg == "%d items"  # untouched; the handler reports the formatting error itself
