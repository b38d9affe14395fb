"""Fuzzed bad input: whatever a workflow file or mapping holds, loading and validating it either works or
raises a ``NornFlowError`` that names the place (file, task, key); never another exception, never a hang.

Every example runs under an alarm: a hang fails the test (with a ``BaseException`` a broad
``except Exception`` in the code under test cannot swallow) instead of blocking the suite.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from nornflow.exceptions import NornFlowError, TaskNotFoundError, YAMLLoadError
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.loader import load_workflow_file, workflow_from_mapping

#: Seconds one example may take before it counts as a hang.
HANG_SECONDS = 10
FUZZ = settings(
    max_examples=300,
    deadline=5000,
    database=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces as it is
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so no ``except Exception`` can turn it into a pass."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer after {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Dotted task names the fuzzer may really import; any other is "not found" without importing it, so a
#: random string such as ``antigravity.x`` never runs a module's import side effects.
IMPORTABLE = {"os.path", "nornflow.run.api", "a.b"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> NornFlow:
    nf = NornFlow(Settings(base_dir=tmp_path_factory.mktemp("fuzz")))
    real_get = nf.catalog.get

    def get(name: str) -> Any:
        if name not in nf.catalog.tasks and "." in name and name.rpartition(".")[0] not in IMPORTABLE:
            raise TaskNotFoundError(f"unknown task {name!r} (import skipped by the fuzzer)", task=name)
        return real_get(name)

    nf.catalog.get = get  # type: ignore[method-assign]
    return nf


def names_the_place(exc: NornFlowError, file: str | None) -> bool:
    """The error says where: the file when there is one, else a task or key. An error collecting
    several problems may instead list them, each naming its own place."""
    if file is not None:
        own = exc.file == file and str(exc).startswith(file)
    else:  # a key may be named even when it is an empty string
        own = exc.key is not None or (bool(exc.location()) and str(exc).startswith(exc.location()))
    problems = getattr(exc, "problems", None) or []
    if not all(names_the_place(p, file) for p in problems):
        return False
    return own or (bool(problems) and all(str(p) in str(exc) for p in problems))


def _event(name: str) -> None:
    """Count outcomes (``--hypothesis-show-statistics`` shows how far the inputs got)."""
    if currently_in_test_context():
        event(name)


def expect_clean(call: Any, file: str | None) -> None:
    """``call()`` returns, or raises a NornFlowError naming the place; anything else fails the test."""
    with no_hang():
        try:
            call()
        except NornFlowError as exc:
            _event(type(exc).__name__)
            assert names_the_place(exc, file), f"error does not name the place: {exc!r}"
        else:
            _event("valid")


# -- strategies ------------------------------------------------------------------------------------------

HOOKS = sorted(HOOK_REGISTRY)
KEYS = [
    *HOOKS,
    "name",
    "args",
    "hooks",
    "description",
    "vars",
    "tasks",
    "workflow",
    "no_such_hook",
    "set_too",
]
TEMPLATES = ["{{ x }}", "{{", "{% if %}", "{{ x | nope }}", "{{ " + "(" * 50 + "1" + ")" * 50 + " }}"]
huge_strings = st.tuples(st.characters(), st.integers(1_000, 300_000)).map(lambda t: t[0] * t[1])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["", " ", "true", "result.a[0]", "result[", "r*", "echo", "é名\U0001f600", "\x00"]),
    st.sampled_from(TEMPLATES),
    huge_strings,
)
text_keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
#: What a YAML file can hold: scalars, lists, string-keyed mappings.
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text_keys, inner, max_size=4)),
    max_leaves=10,
)
#: What Python can pass on top: odd keys (tuples, frozensets, None, numbers), sets, bytes, objects.
python_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                text_keys, st.integers(), st.none(), st.tuples(st.integers()), st.frozensets(st.integers())
            ),
            inner,
            max_size=4,
        ),
        st.sets(st.integers(), max_size=3),
        st.tuples(inner),
        st.binary(max_size=4),
        st.builds(object),
    ),
    max_leaves=10,
)
identifiers = st.sampled_from(["facts", "x", "_x", "host", "item", "1a", "a-b", "é"])
expressions = st.sampled_from(
    ["true", "host.name == 'r1'", "x is defined", "{{ x }}", "(", "", " ", "1 +", "x |"]
)
filters = st.dictionaries(
    st.sampled_from(["hosts", "groups", "platform", "data", "name_pattern", "site", "nope"]),
    st.one_of(
        st.text(max_size=8), st.lists(st.text(max_size=8), max_size=3), st.dictionaries(st.text(), st.text())
    ),
    max_size=2,
)
#: Plausible values per built-in hook (each also gets wild values).
HOOK_VALUES = {
    "set_to": st.one_of(
        identifiers,
        st.dictionaries(
            identifiers,
            st.sampled_from(["result", "failed", "result.a[0]", "result[", "nope.x", "result..a", "stdout"]),
            max_size=3,
        ),
    ),
    "if": st.one_of(expressions, st.booleans(), filters),
    "when": st.one_of(expressions, st.booleans()),
    "output": st.booleans(),
    "run_once": st.booleans(),
    "ignore_errors": st.booleans(),
    "failed_when": expressions,
    "changed_when": expressions,
    "timeout": st.one_of(st.integers(-5, 10**9), st.floats()),
    "loop": st.one_of(st.lists(scalars, max_size=3), expressions),
    "retries": st.one_of(
        st.integers(-5, 2000),
        st.fixed_dictionaries(
            {},
            optional={
                "count": st.integers(-1, 2000),
                "delay": st.floats(),
                "until": expressions,
                "nope": st.integers(),
            },
        ),
    ),
}
task_names = st.one_of(
    st.sampled_from(
        ["echo", "set", "write_file", "nope", "a.b.c", "os.path.join", "nornflow.run.api.NornFlow"]
    ),
    st.text(alphabet=st.characters(blacklist_characters="."), max_size=20),  # no random dotted imports
)


def workflow_documents(wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-formed workflows with something wrong here and there, so inputs get past the first
    checks and reach hooks, templates and the task catalog; plus plainly wrong documents."""

    def maybe_wild(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(*[good] * 8, wild)

    hook_names = st.sampled_from([*HOOKS, "no_such_hook"])
    task = st.builds(
        lambda name, args, hooks: {"name": name, **({"args": args} if args is not None else {}), **hooks},
        maybe_wild(task_names),
        st.one_of(
            st.none(), maybe_wild(st.dictionaries(st.sampled_from(["msg", "x", "filename", "content"]), wild))
        ),
        st.dictionaries(hook_names, st.none(), max_size=4).flatmap(
            lambda chosen: st.fixed_dictionaries(
                {name: maybe_wild(HOOK_VALUES.get(name, wild)) for name in chosen}
            )
        ),
    )
    tasks = st.one_of(
        *[st.lists(st.one_of(*[task] * 6, task_names, wild), min_size=1, max_size=4)] * 8,
        st.builds(lambda hooks: [{"name": "echo", "hooks": hooks}], wild),
        wild,
    )
    body = st.fixed_dictionaries(
        {"name": maybe_wild(st.text(min_size=1, max_size=20)), "tasks": tasks},
        optional={
            "vars": maybe_wild(st.dictionaries(st.text(max_size=8), wild, max_size=3)),
            "inventory_filters": maybe_wild(filters),
            "failure_strategy": maybe_wild(
                st.sampled_from(["fail-fast", "run-all", "skip-failed", "sometimes"])
            ),
            "dry_run": maybe_wild(st.booleans()),
            "description": maybe_wild(st.text(max_size=20)),
        },
    )
    weighted = [
        *[st.fixed_dictionaries({"workflow": body})] * 14,
        st.fixed_dictionaries({"workflow": wild}),
        st.fixed_dictionaries({"workflow": body, "other": wild}),
        st.fixed_dictionaries({"workflow": body.map(lambda b: {**b, "surprise": 1})}),
        st.dictionaries(text_keys, wild, max_size=3),
    ]
    return st.sampled_from(weighted).flatmap(lambda strategy: strategy)


yaml_documents = workflow_documents(yaml_values)
python_documents = workflow_documents(python_values)
#: One valid task with a few hooks, each with a plausible or a wild value: reaches hook validation.
hooked_tasks = st.dictionaries(
    st.sampled_from([*HOOKS, "no_such_hook"]), st.none(), min_size=1, max_size=3
).flatmap(
    lambda chosen: st.fixed_dictionaries(
        {name: st.one_of(HOOK_VALUES.get(name, python_values), python_values) for name in chosen}
    )
)


def deep(depth: int, leaf: Any = "x") -> Any:
    for _ in range(depth):
        leaf = [leaf] if depth % 2 else {"k": leaf}
    return leaf


self_list: list[Any] = []
self_list.append(self_list)
self_dict: dict[str, Any] = {}
self_dict["me"] = self_dict
#: Python values no YAML file can hold (the loader refuses them) but a mapping from Python can.
NASTY = {
    "deep-list": deep(3001),
    "deep-dict": deep(3000),
    "self-list": self_list,
    "self-dict": self_dict,
    "deep-templates": deep(601, "{{ x }}"),
}


#: Fragments of YAML syntax, glued at random into documents.
FRAGMENTS = [
    "workflow:", "  name: w", "  tasks:", "    - name: echo", "      args: {msg: '{{ x }}'}",
    "      set_to: a",
    "&a", "*a", "<<: *a", "? [a, b]", "? {a: 1}", ": v", "!!python/object:os.system", "!!set {a, b}",
    "!!binary aGk=", "!!timestamp 2020-01-01", "!!int x", "!custom", "---", "...", "%YAML 1.1", "- ", "  ",
    "\t", "{", "}", "[", "]", ",", ":", "'", '"', "|", ">", "#", "\n", "\ufeff", "\x00", "\x85", "\u2028",
    "run_once: true", "output: false", "no_such_hook: 1", "x: &b [*b]", "set_to: {? [1]: result}",
    "tasks: *a", "\U0001f600", "名前: 値", "1e400", ".nan", "~", "yes", "=", "<<",
]  # fmt: skip
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
BASE = yaml.safe_dump(
    {
        "workflow": {
            "name": "w",
            "vars": {"a": [1, 2]},
            "tasks": [
                {"name": "echo", "args": {"msg": "{{ a }}"}, "set_to": "b", "output": False},
                {"name": "set", "if": "true", "args": {"x": 1}},
            ],
        }
    }
)


def _mutate(edits: list[tuple[int, str | None]]) -> str:
    text = list(BASE)
    for position, insert in edits:
        at = position % (len(text) + 1)
        if insert is None:
            if text:
                del text[at % len(text)]
        else:
            text[at:at] = insert
    return "".join(text)


texts = st.one_of(
    st.text(),
    st.lists(fragment, max_size=40).map("".join),
    st.lists(fragment, max_size=25).map("\n".join),
    st.lists(st.tuples(st.integers(0, 10**6), st.one_of(st.none(), fragment)), max_size=6).map(_mutate),
)


def _with_aliases(document: Any) -> str:
    """YAML text of ``document`` where one value is shared, so the dump carries an anchor and aliases."""
    if isinstance(document, dict) and isinstance(document.get("workflow"), dict):
        shared = {"shared": [1, {"k": "v"}]}
        body = document["workflow"]
        body["vars"] = shared
        if isinstance(body.get("tasks"), list):
            body["tasks"] = [*body["tasks"], {"name": "echo", "args": shared}]
    return yaml.safe_dump(document, allow_unicode=True)


# -- tests -----------------------------------------------------------------------------------------------


@FUZZ
@given(text=texts)
def test_arbitrary_yaml_text(tmp_path: Path, engine: NornFlow, text: str):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    expect_clean(lambda: load_workflow_file(path), str(path))
    expect_clean(lambda: engine.load_workflow(path), str(path))


@settings(FUZZ, max_examples=120)  # each example writes and loads a whole document: 120 take ~5 s
@given(document=yaml_documents)
def test_random_documents_written_as_yaml_with_anchors(tmp_path: Path, engine: NornFlow, document: Any):
    try:
        text = _with_aliases(document)
    except yaml.YAMLError:  # some Python objects have no YAML form
        return
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    expect_clean(lambda: load_workflow_file(path), str(path))
    expect_clean(lambda: engine.load_workflow(path), str(path))


@FUZZ
@given(document=python_documents)
def test_workflow_shaped_mappings(engine: NornFlow, document: Any):
    expect_clean(lambda: workflow_from_mapping(document, file="inline.yaml"), "inline.yaml")
    expect_clean(lambda: engine.load_workflow(document), None)


@FUZZ
@given(hooks=hooked_tasks, explicit=st.booleans())
def test_hook_values(tmp_path: Path, engine: NornFlow, hooks: dict[str, Any], explicit: bool):
    task = {"name": "echo", "hooks": hooks} if explicit else {"name": "echo", **hooks}
    document = {"workflow": {"name": "hooked", "tasks": [task, {"name": "set", **hooks}]}}
    expect_clean(lambda: engine.load_workflow(document), None)
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except yaml.YAMLError:  # Python-only values (sets, objects) have no YAML form
        return
    path = tmp_path / "hooked.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    expect_clean(lambda: engine.load_workflow(path), str(path))


@pytest.mark.parametrize("where", ["args", "hook", "vars", "filters"])
@pytest.mark.parametrize("kind", list(NASTY))
def test_deep_and_self_referencing_values_in_mappings(engine: NornFlow, where: str, kind: str):
    value = NASTY[kind]
    task: dict[str, Any] = {"name": "echo"}
    body: dict[str, Any] = {"name": "deep", "tasks": [task]}
    if where == "args":
        task["args"] = {"msg": value}
    elif where == "hook":
        task["loop"] = value
    elif where == "vars":
        body["vars"] = {"v": value}
    else:
        body["inventory_filters"] = {"data": {"k": value}}
    expect_clean(lambda: engine.load_workflow({"workflow": body}), None)


def test_deeply_nested_template_in_a_file_is_a_located_error(tmp_path: Path, engine: NornFlow):
    path = tmp_path / "deep.yaml"
    template = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    path.write_text(
        yaml.safe_dump({"workflow": {"name": "d", "tasks": [{"name": "echo", "args": {"m": template}}]}})
    )
    with no_hang(), pytest.raises(NornFlowError) as info:
        engine.load_workflow(path)
    assert info.value.file == str(path) and info.value.task == "echo" and info.value.key == "args"


# -- hostile YAML is refused quickly -----------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    + ["workflow: {name: bomb, tasks: [echo]}"]
)
QUADRATIC = (
    "big: &big [" + ", ".join(["x"] * 20_000) + "]\n" + "many: [" + ", ".join(["*big"] * 2_000) + "]\n"
)


@pytest.mark.parametrize(
    "text",
    [BILLION_LAUGHS, QUADRATIC, "[" * 100_000 + "]" * 100_000, "a: &x [*x]\n"],
    ids=["billion-laughs", "quadratic", "deep", "recursive"],
)
def test_alias_bombs_and_deep_documents_are_refused_quickly(tmp_path: Path, text: str):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with no_hang(5), pytest.raises(YAMLLoadError) as info:
        load_workflow_file(path)
    assert time.perf_counter() - started < 2
    assert str(info.value).startswith(str(path)) and info.value.line is not None
    assert "refused" in info.value.message or "recursive" in info.value.message


def test_huge_strings_load_in_reasonable_time(tmp_path: Path, engine: NornFlow):
    path = tmp_path / "huge.yaml"
    big = "x" * 2_000_000
    path.write_text(
        yaml.safe_dump({"workflow": {"name": big, "tasks": [{"name": "echo", "args": {"msg": big}}]}})
    )
    started = time.perf_counter()
    with no_hang():
        prepared = engine.load_workflow(path)
    assert prepared.model.name == big and time.perf_counter() - started < 5
