"""Keep device passwords and other secrets out of console output, logs and JSON.

Two complementary tools:

* :func:`mask_data` hides the *values of secret-looking keys* in structured data (inventory, vars,
  results) before it is printed or serialised;
* :class:`SecretRegistry` remembers the secret *values* themselves (collected from inventory and
  vars) so they can be blanked out of free text: log lines, exception messages, device output.
  :class:`SecretMaskingFilter` applies it to every log record.

Operators see secrets only when they ask for them (``--show-secrets``), i.e. when the caller simply
skips these helpers.

Which keys are secret (:data:`SECRET_KEY_PATTERN`)
--------------------------------------------------

A key is secret when it contains, anywhere and in any case, one of the unambiguous stems
``password``/``passwd``, ``passphrase``, ``secret``, ``community``/``communities``, or a key-ish
compound ``api key``, ``private key``/``priv key``, ``auth key``, ``shared key``, ``encryption key``,
``signing key`` (with or without a ``_``, ``-``, ``.`` or space in between). So ``enable_secret``,
``snmp_community``, ``ssh_passphrase``, ``apiKey`` and ``pre_shared_key`` are secret.

Short or ambiguous words only count as a whole word: ``token``/``tokens``, ``auth``,
``authorization``, ``pass``, ``pwd``, ``psk``, ``bearer``, ``cookie``. Words are delimited by
anything that is not a letter and by camelCase humps, so ``X-Auth-Token``, ``access_token``,
``authToken`` and ``AUTH_TOKEN`` are secret while ``tokenizer_count``, ``author``, ``passive`` and
``bypass`` are not.

A project adds names of its own with ``secret_names`` in ``nornflow.yaml`` (:func:`add_secret_names`;
NornFlow 1.0: ``redaction.sensitive_names``).

The rule errs on the side of masking: ``secretary``, ``token_count`` and BGP ``community`` values are
masked too. A hidden harmless value costs a ``--show-secrets``; a leaked password costs much more.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_KEY_PATTERN",
    "SecretMaskingFilter",
    "SecretRegistry",
    "add_secret_names",
    "is_secret_key",
    "mask_data",
    "may_name_secret",
]

MASK = "********"
"""What a secret is replaced with."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not masked in free text: they would blank out ordinary words and numbers."""

_STEMS = (
    r"passw(?:or)?d",
    r"passphrase",
    r"secret",
    r"communit(?:y|ies)",
    r"(?:api|priv(?:ate)?|auth|shared|encryption|signing)[-_. ]?key",
)
_WORDS = ("tokens?", "auth", "authorization", "pass", "pwd", "psk", "bearer", "cookies?")


def _whole_word(word: str) -> str:
    """Regex for ``word`` as a whole word in snake, kebab, camel or upper case."""
    return (
        rf"(?<![A-Za-z]){word}(?![a-z])"  # token, access_token, authToken (followed by a hump)
        rf"|{word[0].upper()}{word[1:]}(?![a-z])"  # Token in XAuthToken, accessToken
        rf"|(?<![A-Za-z]){word.upper()}(?![A-Za-z])"  # TOKEN in X_AUTH_TOKEN
    )


SECRET_KEY_PATTERN: re.Pattern[str] = re.compile(
    "(?i:" + "|".join(_STEMS) + ")|" + "|".join(_whole_word(w) for w in _WORDS)
)
"""Matches (``search``) key names whose values are secrets; see the module docstring for the rule."""

_SCALARS = (str, bytes, int, float, type(None))


def is_secret_key(key: object) -> bool:
    """True if ``key`` is a string naming a secret (password, token, community, ...)."""
    return isinstance(key, str) and _secret_name(key)


#: The project's own secret names (``secret_names``; NornFlow 1.0: ``redaction.sensitive_names``),
#: normalised, and the pattern matching them; see :func:`add_secret_names`.
_EXTRA_NAMES: frozenset[str] = frozenset()
_EXTRA_PATTERN: re.Pattern[str] | None = None
_EXTRA_LOCK = threading.Lock()


def _normalised(key: str) -> str:
    return key.lower().replace("-", "_").replace(".", "_")


def add_secret_names(names: Iterable[str]) -> None:
    """Treat keys named ``names`` as secret too, from now on in this process (names only add masking).

    A key matches a name when, lower-cased with ``-`` and ``.`` read as ``_``, it is the name or holds
    it between ``_`` boundaries: ``vendor_pin`` matches ``vendor_pin``, ``Vendor-PIN`` and
    ``site_vendor_pin``, not ``vendor_pinned``.
    """
    global _EXTRA_NAMES, _EXTRA_PATTERN
    wanted = {_normalised(n.strip()) for n in names if isinstance(n, str) and n.strip()}
    with _EXTRA_LOCK:
        if wanted <= _EXTRA_NAMES:
            return
        _EXTRA_NAMES = _EXTRA_NAMES | wanted
        words = "|".join(re.escape(n) for n in sorted(_EXTRA_NAMES, key=len, reverse=True))
        _EXTRA_PATTERN = re.compile(rf"(?:^|_)(?:{words})(?:_|$)")
        _secret_name.cache_clear()


@functools.lru_cache(maxsize=16384)
def _secret_name(key: str) -> bool:
    # inventories repeat the same few keys on every host: 100,000 hosts are 100,000 searches otherwise
    if SECRET_KEY_PATTERN.search(key) is not None:
        return True
    extra = _EXTRA_PATTERN
    return extra is not None and extra.search(_normalised(key)) is not None


def _masked_value(value: Any) -> Any:
    """MASK for any value under a secret key, except None, which hides nothing and helps debugging."""
    return None if value is None else MASK


def mask_data(data: Any) -> Any:
    """Deep copy of ``data`` with the values of secret keys replaced by :data:`MASK`, for safe display.

    Mappings come back as plain dicts, lists as lists, tuples as tuples (named tuples keep their type
    and have their secret-named fields masked), sets and frozensets as such. Anything else (strings,
    numbers, custom objects) is returned as is, not copied. Shared and cyclic references are
    preserved, as with :func:`copy.deepcopy`.
    """
    return _mask(data, {}, [])


def _mask(obj: Any, memo: dict[int, Any], keep: list[Any]) -> Any:
    """Recursive worker of :func:`mask_data`; ``memo`` maps id(original) to its copy."""
    if isinstance(obj, _SCALARS):
        return obj
    oid = id(obj)
    if oid in memo:
        return memo[oid]
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        memo[oid] = out
        keep.append(obj)
        for key, value in obj.items():
            out[key] = _masked_value(value) if is_secret_key(key) else _mask(value, memo, keep)
        return out
    if isinstance(obj, list):
        items: list[Any] = []
        memo[oid] = items
        keep.append(obj)
        items.extend(_mask(value, memo, keep) for value in obj)
        return items
    if isinstance(obj, tuple):
        fields = getattr(obj, "_fields", None)
        if isinstance(fields, tuple) and len(fields) == len(obj):
            values = [
                _masked_value(value) if is_secret_key(name) else _mask(value, memo, keep)
                for name, value in zip(fields, obj, strict=True)
            ]
            result: Any = type(obj)(*values)
        else:
            result = tuple(_mask(value, memo, keep) for value in obj)
    elif isinstance(obj, set | frozenset):
        masked = [_mask(value, memo, keep) for value in obj]
        result = frozenset(masked) if isinstance(obj, frozenset) else set(masked)
    else:
        return obj
    # A tuple can reach itself through a list inside it; keep the copy made first, like deepcopy.
    if oid in memo:
        return memo[oid]
    memo[oid] = result
    keep.append(obj)
    return result


def _as_secret_text(value: object) -> str | None:
    """The text form a secret value would take in output, or None if it is not a maskable scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _common_prefix(words: list[str]) -> str:
    """Longest common prefix of a sorted, non-empty list (that of its first and last items)."""
    first, last = words[0], words[-1]
    if len(words) == 1:
        return first
    size = 0
    limit = min(len(first), len(last))
    while size < limit and first[size] == last[size]:
        size += 1
    return first[:size]


def _trie_regex(words: list[str]) -> str:
    """Regex matching any of the sorted, unique ``words`` ("" = a word ends here), longest match first.

    Sharing prefixes keeps matching fast with thousands of secrets: at each position the engine tries
    at most one branch per distinct next character instead of every secret in turn.
    """
    terminal = bool(words) and words[0] == ""
    branches = []
    for first, group in itertools.groupby(words[1:] if terminal else words, key=lambda w: w[0]):
        tails = [w[1:] for w in group]
        common = _common_prefix(tails)
        if common:
            tails = [t[len(common) :] for t in tails]
        branches.append(re.escape(first + common) + _trie_regex(tails))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # Greedy optional: prefer the longer secret, fall back to the one ending here.
    return f"(?:{body})?" if terminal else body


def _compile_secrets(secrets: Iterable[str]) -> re.Pattern[str]:
    """One compiled pattern matching every secret, longest first where one is a prefix of another."""
    ordered = sorted(secrets)
    try:
        return re.compile(_trie_regex(ordered))
    except (RecursionError, re.error, OverflowError):  # absurdly long chains of prefixes
        return re.compile("|".join(re.escape(s) for s in sorted(ordered, key=len, reverse=True)))


class SecretRegistry:
    """Thread-safe set of known secret values, used to blank them out of free text."""

    def __init__(self, min_length: int = MIN_SECRET_LENGTH) -> None:
        """Create an empty registry; values shorter than ``min_length`` are ignored."""
        self.min_length = min_length
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        #: some secret holds a character JSON escapes (a quote, a backslash, a control character)
        self._escaped = False

    def __len__(self) -> int:
        """Number of known secret values."""
        return len(self._secrets)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` (in its text form) is a known secret."""
        text = _as_secret_text(value)
        return text is not None and text in self._secrets

    def __repr__(self) -> str:
        """Never show the secrets themselves."""
        return f"<SecretRegistry: {len(self)} secrets>"

    def add(self, value: object) -> bool:
        """Remember one secret value (str, bytes or number); True if it was new and long enough."""
        return self._add_all([value]) == 1

    def collect(self, data: Any) -> int:
        """Remember every value found under a secret key in ``data``; returns how many were new.

        Walks mappings, lists, tuples and sets (cycle-safe). Under a secret key, every scalar inside
        the value counts, so ``snmp_communities: [a, b]`` or ``secrets: {enable: x}`` are covered.
        """
        found: list[Any] = []
        seen: set[int] = set()
        keep: list[Any] = []
        stack: list[tuple[Any, bool]] = [(data, False)]
        while stack:
            obj, secret = stack.pop()
            if isinstance(obj, _SCALARS):
                if secret:
                    found.append(obj)
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            keep.append(obj)
            try:
                self._visit(obj, secret, found, stack)
            except Exception:  # a task's own container that cannot be read: it prints as a marker
                continue
        return self._add_all(found)

    @staticmethod
    def _visit(obj: Any, secret: bool, found: list[Any], stack: list[tuple[Any, bool]]) -> None:
        """One container of :meth:`collect`: its secret scalars to ``found``, its containers to ``stack``."""
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                under = secret or is_secret_key(key)
                if isinstance(value, _SCALARS):  # most values: no round trip through the stack
                    if under:
                        found.append(value)
                else:
                    stack.append((value, under))
        elif isinstance(obj, tuple) and isinstance(fields := getattr(obj, "_fields", None), tuple):
            stack.extend((v, secret or is_secret_key(k)) for k, v in zip(fields, obj, strict=False))
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend((value, secret) for value in obj)

    def _add_all(self, values: Iterable[object]) -> int:
        """Add the maskable values under one lock; invalidate the compiled pattern if any was new."""
        texts = {t for t in map(_as_secret_text, values) if t is not None and len(t) >= self.min_length}
        with self._lock:
            new = texts - self._secrets
            if new:
                self._secrets |= new
                self._pattern = None
                self._escaped = self._escaped or any(_JSON_ESCAPED.search(t) for t in new)
        return len(new)

    def found_in(self, text: str) -> bool:
        """Whether a known secret occurs in ``text`` (JSON text: True also when a secret holds a
        character JSON escapes, which a plain search could miss): a fast screen before masking data."""
        if self._escaped:
            return True
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def _compiled(self) -> re.Pattern[str] | None:
        """The pattern for the current secrets, built lazily once per change of the set."""
        pattern = self._pattern
        if pattern is not None or not self._secrets:
            return pattern
        with self._lock:
            if self._pattern is None and self._secrets:
                self._pattern = _compile_secrets(self._secrets)
            return self._pattern

    def mask_text(self, text: str) -> str:
        """``text`` with every occurrence of a known secret replaced by :data:`MASK`."""
        if not isinstance(text, str) or not text:
            return text
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(MASK, text)


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def may_name_secret(text: str) -> bool:
    """Whether ``text`` (say, a JSON document) holds anything a secret key name could be: False
    means no key in it is secret, so masking it by key name changes nothing (a fast screen)."""
    if SECRET_KEY_PATTERN.search(text) is not None:
        return True
    names = _EXTRA_NAMES
    if not names:
        return False
    folded = _normalised(text)
    return any(name in folded for name in names)


class SecretMaskingFilter(logging.Filter):
    """Logging filter that blanks known secrets out of records; attach it to handlers.

    The message is formatted (``msg % args``) and masked; a traceback or stack info that contains a
    secret is formatted and masked too. Records are changed in place, so every handler sees the masked
    text. (A filter on a logger does not see records propagated from child loggers, hence handlers.)
    """

    _formatter = logging.Formatter()

    def __init__(self, registry: SecretRegistry) -> None:
        """Mask with the secrets known to ``registry`` (shared, may grow later)."""
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record and always let it through (this filter hides, never drops)."""
        if not len(self.registry):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as usual
            return True
        masked = self.registry.mask_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            formatted = self._formatter.formatException(record.exc_info)
            masked = self.registry.mask_text(formatted)
            if masked != formatted:
                record.exc_text = masked
        elif record.exc_text:
            record.exc_text = self.registry.mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.registry.mask_text(record.stack_info)
        return True
