"""Safe YAML loading that remembers where every mapping and key came from.

Everything nornflow reads from YAML (settings, inventory, workflows, vars) goes through
:func:`load_yaml_file` or :func:`load_yaml_text`. They differ from ``yaml.safe_load`` in that:

* mappings come back as :class:`LocatedDict` and sequences as :class:`LocatedList` (``dict``/``list``
  subclasses) that know their file, line and column, and the position of each key or item, so errors
  found later (a bad hook value, an unknown task) can point at the exact line;
* duplicate keys are an error instead of silently keeping the last one;
* documents that explode when their aliases are expanded ("billion laughs"), recursive aliases and
  documents nested deeper than :data:`MAX_DEPTH` are refused before any Python object is built;
* more than one document in a stream is an error;
* the only exception they raise is :class:`~nornflow.exceptions.YAMLLoadError`, with 1-based
  ``line``/``column`` whenever the position is known.

Composition (events to nodes) is done here, iteratively, instead of by PyYAML's composer: the C
composer recurses in C and crashes the interpreter on very deep input, the Python one hits
``RecursionError``. Doing it ourselves also lets the size and depth limits be enforced while the
document is read, so a hostile document is rejected after reading only the part that breaks a limit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from nornflow.exceptions import YAMLLoadError

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "LocatedDict",
    "LocatedList",
    "load_yaml_file",
    "load_yaml_text",
    "position_of",
]

MAX_EXPANDED_NODES = 1_000_000
"""Largest document accepted, counted in nodes with every alias expanded (read at call time)."""

MAX_DEPTH = 200
"""Deepest collection nesting accepted, aliases expanded (read at call time)."""

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_USING_C = _BaseLoader is not yaml.SafeLoader

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"


class LocatedDict(dict):
    """A ``dict`` that remembers its source file, its own position and the position of each key."""

    __slots__ = ("_positions", "column", "line", "source")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source: str | None = None
        self.line: int | None = None
        self.column: int | None = None
        self._positions: dict[Any, tuple[int, int, int, int]] = {}

    def key_position(self, key: Any) -> tuple[int, int] | None:
        """1-based (line, column) of ``key`` as written in the YAML, or None if unknown."""
        try:
            found = self._positions.get(key)
        except TypeError:  # unhashable lookup key
            return None
        return None if found is None else (found[0], found[1])

    def value_position(self, key: Any) -> tuple[int, int] | None:
        """1-based (line, column) where the value of ``key`` starts, or None if unknown."""
        try:
            found = self._positions.get(key)
        except TypeError:
            return None
        return None if found is None else (found[2], found[3])

    def located_copy(self) -> LocatedDict:
        """A shallow copy that keeps the file, the position and the positions of the keys (code that
        rewrites a loaded mapping, such as blueprint expansion, still reports the lines written)."""
        twin = LocatedDict(self)
        twin.source, twin.line, twin.column = self.source, self.line, self.column
        twin._positions = dict(self._positions)
        return twin


class LocatedList(list):
    """A ``list`` that remembers its source file, its own position and the position of each item."""

    __slots__ = ("_positions", "column", "line", "source")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.source: str | None = None
        self.line: int | None = None
        self.column: int | None = None
        self._positions: tuple[tuple[int, int], ...] = ()

    def item_position(self, index: int) -> tuple[int, int] | None:
        """1-based (line, column) of item ``index`` as loaded (negative indexes allowed), or None."""
        if not isinstance(index, int) or isinstance(index, bool):
            return None
        try:
            return self._positions[index]
        except IndexError:
            return None


def position_of(obj: Any, key: Any = None) -> tuple[str | None, int | None, int | None]:
    """(file, line, column) of a loaded mapping/sequence, or of one of its keys/items, for error messages.

    With ``key``, the key's position (an item index for sequences) when known, else the container's
    own position, so a missing key is reported where its mapping starts. Anything not loaded by this
    module gives ``(None, None, None)``.
    """
    if isinstance(obj, LocatedDict | LocatedList):
        if key is not None:
            pos = obj.key_position(key) if isinstance(obj, LocatedDict) else obj.item_position(key)
            if pos is not None:
                return obj.source, pos[0], pos[1]
        return obj.source, obj.line, obj.column
    return None, None, None


def load_yaml_file(path: str | Path, *, what: str = "YAML") -> Any:
    """Load one YAML document from a UTF-8 file; ``what`` names the file's role in error messages."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise YAMLLoadError(f"cannot read {what} file: {reason}", file=file) from exc
    except Exception as exc:  # e.g. a NUL byte in the path: ValueError
        raise YAMLLoadError(f"cannot read {what} file: {exc}", file=file) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_offset_position(raw, exc.start)
        raise YAMLLoadError(
            f"{what} file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            file=file,
            line=line,
            column=column,
        ) from exc
    return _load(text, file)


def load_yaml_text(text: str, *, source: str = "<string>") -> Any:
    """Load one YAML document from a string; ``source`` is the name used in positions and errors."""
    return _load(text, source)


# --------------------------------------------------------------------------------------------- loading


def _load(text: str, source: str) -> Any:
    """Compose with limits, then construct; turn every failure into a YAMLLoadError."""
    loader = None
    try:
        loader = _Loader(text, source)
        node = _compose(loader, source, MAX_EXPANDED_NODES, MAX_DEPTH)
        if node is None:
            return None
        return loader.construct_document(node)
    except YAMLLoadError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise _from_marked_error(exc, source) from exc
    except yaml.reader.ReaderError as exc:
        line, column = _reader_error_position(text, exc.position)
        raise YAMLLoadError(_reader_error_message(exc), file=source, line=line, column=column) from exc
    except yaml.YAMLError as exc:
        raise YAMLLoadError(str(exc) or type(exc).__name__, file=source) from exc
    except UnicodeError as exc:  # lone surrogates in a str cannot be encoded for the C parser
        raise YAMLLoadError(f"text is not valid Unicode: {exc}", file=source) from exc
    except RecursionError as exc:
        raise YAMLLoadError("document is nested too deeply", file=source) from exc
    except Exception as exc:
        raise YAMLLoadError(f"cannot load YAML: {type(exc).__name__}: {exc}", file=source) from exc
    finally:
        if loader is not None:
            with contextlib.suppress(Exception):
                loader.dispose()


class _AnchorInfo:
    """What an alias needs to know about its anchored node: expanded size and depth once complete."""

    __slots__ = ("depth", "node", "size")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.size: int | None = None  # None while the anchored collection is still open
        self.depth = 0


class _Frame:
    """An open collection during composition."""

    __slots__ = ("anchor_info", "child_depth", "is_mapping", "key", "node", "start_total")

    def __init__(
        self, node: Node, is_mapping: bool, start_total: int, anchor_info: _AnchorInfo | None
    ) -> None:
        self.node = node
        self.is_mapping = is_mapping
        self.start_total = start_total
        self.anchor_info = anchor_info
        self.child_depth = 0
        self.key: Node | None = None


def _compose(loader: Any, source: str, max_nodes: int, max_depth: int) -> Node | None:
    """Build the node graph of the single document, refusing alias bombs, recursion and deep nesting.

    ``total`` counts nodes as if every alias were expanded; an alias adds the (memoised) expanded size
    of its anchor, so the check is linear in the document, not in its expansion.
    """
    loader.get_event()  # StreamStartEvent (always first)
    if loader.check_event(StreamEndEvent):
        loader.get_event()
        return None
    start = loader.get_event()
    if not isinstance(start, DocumentStartEvent):  # pragma: no cover - the parser guarantees it
        raise _error(source, start.start_mark, "expected the start of a document")

    anchors: dict[str, _AnchorInfo] = {}
    stack: list[_Frame] = []
    total = 0
    root: Node | None = None

    get_event = loader.get_event
    resolve = loader.resolve
    while root is None:
        event = get_event()
        cls = event.__class__
        if cls is ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(ScalarNode, event.value, event.implicit)
            node: Node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            total += 1
            if total > max_nodes:
                raise _too_big(source, event.start_mark, max_nodes)
            if event.anchor is not None:
                info = anchors[event.anchor] = _AnchorInfo(node)
                info.size = 1
            depth = 0
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            if len(stack) >= max_depth:
                raise _too_deep(source, event.start_mark, max_depth)
            is_mapping = cls is MappingStartEvent
            kind = MappingNode if is_mapping else SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            total += 1
            if total > max_nodes:
                raise _too_big(source, event.start_mark, max_nodes)
            info = None
            if event.anchor is not None:
                info = anchors[event.anchor] = _AnchorInfo(node)
            stack.append(_Frame(node, is_mapping, total - 1, info))
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            frame = stack.pop()
            node = frame.node
            node.end_mark = event.end_mark
            depth = frame.child_depth + 1
            if frame.anchor_info is not None:
                frame.anchor_info.size = total - frame.start_total
                frame.anchor_info.depth = depth
        elif cls is AliasEvent:
            info = anchors.get(event.anchor)
            if info is None:
                raise _error(source, event.start_mark, f"found undefined alias *{event.anchor}")
            if info.size is None:
                raise _error(
                    source,
                    event.start_mark,
                    f"recursive alias *{event.anchor} (refers to a node containing it)",
                )
            total += info.size
            if total > max_nodes:
                raise _too_big(source, event.start_mark, max_nodes)
            if len(stack) + info.depth > max_depth:
                raise _too_deep(source, event.start_mark, max_depth)
            node, depth = info.node, info.depth
        else:  # pragma: no cover - the parser only emits the events above inside a document
            raise _error(source, event.start_mark, f"unexpected {type(event).__name__}")

        if not stack:
            root = node
            break
        parent = stack[-1]
        if depth > parent.child_depth:
            parent.child_depth = depth
        if not parent.is_mapping:
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    loader.get_event()  # DocumentEndEvent
    if not loader.check_event(StreamEndEvent):
        extra = loader.get_event()
        if isinstance(extra, DocumentStartEvent | StreamStartEvent | DocumentEndEvent):
            raise _error(
                source,
                extra.start_mark,
                "expected a single document in the stream, but found another document",
            )
        raise _error(source, extra.start_mark, "unexpected content after the document")  # pragma: no cover
    loader.get_event()  # StreamEndEvent
    return root


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader whose collections are located, whose keys are checked and whose tags are limited."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self._source = source
        self._flat: dict[int, list[tuple[Node, Node]]] = {}

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Build one object, turning a plain exception from a constructor into a located error."""
        try:
            return super().construct_object(node, deep=deep)
        except (YAMLLoadError, yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:
            raise _error(
                self._source, node.start_mark, f"invalid {_short_tag(node.tag)} value: {exc}"
            ) from exc

    def construct_undefined(self, node: Node) -> Any:
        """Refuse tags the safe loader does not know (``!!python/object`` and friends, custom ``!tags``)."""
        raise _error(
            self._source, node.start_mark, f"tag {node.tag!r} is not allowed (unknown or unsafe tag)"
        )

    def construct_mapping(self, node: Node, deep: bool = False) -> LocatedDict:
        """Build a located mapping at once (used by ``!!set``); ``!!map`` goes through the generator below."""
        data = self._new_dict(node)
        self._fill_mapping(data, cast(MappingNode, node))  # _new_dict checked the kind
        return data

    def _construct_map(self, node: Node) -> Any:
        """Constructor for ``!!map``: yield the empty dict first so aliases to it can be shared."""
        data = self._new_dict(node)
        yield data
        self._fill_mapping(data, cast(MappingNode, node))  # _new_dict checked the kind

    def _construct_seq(self, node: Node) -> Any:
        """Constructor for ``!!seq``: a located list with the position of each item."""
        if not isinstance(node, SequenceNode):
            raise _error(self._source, node.start_mark, f"expected a sequence, but found {_kind(node)}")
        data = self._locate(LocatedList(), node)
        yield data
        data.extend([self.construct_object(child) for child in node.value])
        data._positions = tuple((c.start_mark.line + 1, c.start_mark.column + 1) for c in node.value)

    def _new_dict(self, node: Node) -> LocatedDict:
        """An empty located dict for ``node`` (which must be a mapping node)."""
        if not isinstance(node, MappingNode):
            raise _error(self._source, node.start_mark, f"expected a mapping, but found {_kind(node)}")
        return self._locate(LocatedDict(), node)

    def _locate(self, data: Any, node: Node) -> Any:
        """Stamp a new container with its file and the 1-based position of its node."""
        data.source = self._source
        data.line = node.start_mark.line + 1
        data.column = node.start_mark.column + 1
        return data

    def _fill_mapping(self, data: LocatedDict, node: MappingNode) -> None:
        """Fill ``data`` from merged (``<<``) pairs first, then own pairs, refusing duplicate own keys."""
        merged, own = self._split_mapping(node)
        positions = data._positions
        for key_node, value_node in merged:
            key = self._construct_key(key_node)
            data[key] = self.construct_object(value_node)
            positions[key] = _pair_position(key_node, value_node)
        first_line: dict[Any, int] = {}
        for key_node, value_node in own:
            key = self._construct_key(key_node)
            if key in first_line:
                raise _error(
                    self._source,
                    key_node.start_mark,
                    f"duplicate key {key!r} (first defined at line {first_line[key]}, "
                    f"again at line {key_node.start_mark.line + 1})",
                )
            first_line[key] = key_node.start_mark.line + 1
            data[key] = self.construct_object(value_node)
            positions[key] = _pair_position(key_node, value_node)

    def _split_mapping(self, node: MappingNode) -> tuple[list[tuple[Node, Node]], list[tuple[Node, Node]]]:
        """(merged pairs, own pairs) of a mapping node, without mutating it (anchored nodes are shared)."""
        merged: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        merge_line: int | None = None
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            if merge_line is not None:
                raise _error(
                    self._source,
                    key_node.start_mark,
                    f"duplicate key '<<' (first defined at line {merge_line}, "
                    f"again at line {key_node.start_mark.line + 1})",
                )
            merge_line = key_node.start_mark.line + 1
            if isinstance(value_node, MappingNode):
                merged.extend(self._flattened(value_node))
            elif isinstance(value_node, SequenceNode):
                # Earlier mappings win, so add them last (later assignments override earlier ones).
                for sub in reversed(value_node.value):
                    if not isinstance(sub, MappingNode):
                        raise _error(
                            self._source,
                            sub.start_mark,
                            f"expected a mapping to merge ('<<'), found {sub.id}",
                        )
                    merged.extend(self._flattened(sub))
            else:
                raise _error(
                    self._source,
                    value_node.start_mark,
                    f"expected a mapping or a list of mappings to merge ('<<'), found {value_node.id}",
                )
        return merged, own

    def _flattened(self, node: MappingNode) -> list[tuple[Node, Node]]:
        """All pairs of a mapping used as a merge source, its own merges resolved (memoised per node)."""
        cached = self._flat.get(id(node))
        if cached is None:
            merged, own = self._split_mapping(node)
            cached = self._flat[id(node)] = merged + own
        return cached

    def _construct_key(self, key_node: Node) -> Any:
        """Build a mapping key and make sure it can be a dict key."""
        key = self.construct_object(key_node)
        try:
            hash(key)
        except TypeError:
            kind = "mapping" if isinstance(key, dict) else _kind(key_node)
            raise _error(
                self._source, key_node.start_mark, f"a mapping key must be a scalar, found a {kind}"
            ) from None
        return key


_Loader.add_constructor(_MAP_TAG, _Loader._construct_map)
_Loader.add_constructor(_SEQ_TAG, _Loader._construct_seq)
# A bare ``=`` or ``<<`` outside a key position is just a string (PyYAML's safe loader refuses them).
_Loader.add_constructor(_VALUE_TAG, yaml.SafeLoader.construct_yaml_str)
_Loader.add_constructor(_MERGE_TAG, yaml.SafeLoader.construct_yaml_str)
_Loader.add_constructor(None, _Loader.construct_undefined)

# Let yaml.safe_dump / yaml.dump write located containers like the plain ones they subclass.
for _representer in (yaml.representer.SafeRepresenter, yaml.representer.Representer):
    _representer.add_representer(LocatedDict, yaml.representer.SafeRepresenter.represent_dict)
    _representer.add_representer(LocatedList, yaml.representer.SafeRepresenter.represent_list)


# ---------------------------------------------------------------------------------------------- errors


def _kind(node: Node) -> str:
    """A node's YAML kind as PyYAML names it (``scalar``, ``sequence``, ``mapping``)."""
    return str(getattr(node, "id", "node"))


def _pair_position(key_node: Node, value_node: Node) -> tuple[int, int, int, int]:
    """1-based (key line, key column, value line, value column)."""
    km, vm = key_node.start_mark, value_node.start_mark
    return km.line + 1, km.column + 1, vm.line + 1, vm.column + 1


def _short_tag(tag: str | None) -> str:
    """``tag:yaml.org,2002:int`` -> ``!!int`` for messages."""
    if tag and tag.startswith("tag:yaml.org,2002:"):
        return "!!" + tag[len("tag:yaml.org,2002:") :]
    return str(tag)


def _error(source: str, mark: Any, message: str) -> YAMLLoadError:
    """A YAMLLoadError at a PyYAML mark (0-based) converted to 1-based line/column."""
    if mark is None:
        return YAMLLoadError(message, file=source)
    return YAMLLoadError(message, file=source, line=mark.line + 1, column=mark.column + 1)


def _too_big(source: str, mark: Any, limit: int) -> YAMLLoadError:
    """The document expands past ``limit`` nodes (an alias bomb, or simply far too large)."""
    return _error(
        source,
        mark,
        f"document refused: it expands to more than {limit:,} nodes when aliases are expanded "
        "(alias bomb, or far too large)",
    )


def _too_deep(source: str, mark: Any, limit: int) -> YAMLLoadError:
    """The document nests collections deeper than ``limit``."""
    return _error(source, mark, f"document refused: collections nested deeper than {limit} levels")


def _from_marked_error(exc: yaml.MarkedYAMLError, source: str) -> YAMLLoadError:
    """Problem and context of a PyYAML scanner/parser/constructor error, located at the problem."""
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    if problem and context:
        cm = exc.context_mark
        if cm is not None and mark is not None and (cm.line, cm.column) != (mark.line, mark.column):
            context += f" started at line {cm.line + 1}, column {cm.column + 1}"
        message = f"{problem} ({context})"
    else:
        message = problem or context or "invalid YAML"
    if "maximum nesting depth" in problem:
        # PyYAML >= 6.0.4 has a depth limit of its own, above MAX_DEPTH; its scanner
        # reads ahead, so it may refuse the document before the composer counts that deep
        return _too_deep(source, mark, MAX_DEPTH)
    return _error(source, mark, message)


def _reader_error_message(exc: yaml.reader.ReaderError) -> str:
    """PyYAML's reader complaint (bad character or encoding) without its position suffix."""
    if isinstance(exc.character, bytes):
        return f"cannot decode byte 0x{exc.character[0]:02x}: {exc.reason}"
    if isinstance(exc.character, str) and exc.character:
        return f"unacceptable character #x{ord(exc.character):04x}: {exc.reason}"
    if isinstance(exc.character, int) and not isinstance(exc.character, bool):
        return f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    return str(exc.reason)


def _reader_error_position(text: str, position: Any) -> tuple[int | None, int | None]:
    """1-based line/column of a reader error; the C reader counts UTF-8 bytes, the Python one characters."""
    if not isinstance(position, int) or not isinstance(text, str):
        return None, None
    if _USING_C:
        try:
            return _byte_offset_position(text.encode("utf-8"), position)
        except UnicodeError:
            return None, None
    prefix = text[:position]
    return prefix.count("\n") + 1, position - (prefix.rfind("\n") + 1) + 1


def _byte_offset_position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of a byte offset in UTF-8-ish bytes."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column
