"""The task catalog: built-in tasks, the project's task dirs, packages' tasks, and dotted import paths.

A project task is any public function of a ``.py`` file in a task dir whose first parameter is a Nornir
``Task`` (annotated) and that returns a ``Result``. A module that fails to import is an error naming the
file, never a silent skip.

Every task also has a qualified name, as in NornFlow 1.0: ``nornflow.echo`` for a built-in,
``local.NAME`` for the project's, ``PACKAGE.NAME`` for a package's (``packages:`` in the settings). A
bare name is the project's task, else the built-in, else the one package providing it (two packages
providing it make the bare name ambiguous: use the qualified names).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from nornflow.exceptions import TaskImportError, TaskNotFoundError
from nornflow.imports import first_parameter, import_file, package_of

__all__ = ["TaskCatalog", "TaskInfo", "is_task_function"]


@dataclass(frozen=True)
class TaskInfo:
    """A task known to the catalog: its name, function, where it came from, and what it accepts."""

    name: str
    func: Callable[..., Any]
    source: str
    accepts_print_output: bool
    accepts_vars: bool
    description: str
    #: takes ``nornflow_files``: the run's output policy (where it may write; ``write_file``)
    accepts_files: bool = False

    @classmethod
    def of(cls, name: str, func: Callable[..., Any], source: str) -> TaskInfo:
        """Describe ``func`` (its signature is inspected once, here)."""
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        doc = (inspect.getdoc(func) or "").strip().splitlines()
        return cls(
            name=name,
            func=func,
            source=source,
            accepts_print_output="print_output" in params,
            accepts_vars="nornflow_vars" in params,
            description=doc[0] if doc else "",
            accepts_files="nornflow_files" in params,
        )


def _is_annotation(annotation: Any, target: type) -> bool:
    if annotation is target:
        return True
    if isinstance(annotation, str):
        return annotation.split(".")[-1] == target.__name__
    return False


def is_task_function(obj: Any) -> bool:
    """Whether ``obj`` is a function taking a Nornir ``Task`` first and returning a ``Result``."""
    first = first_parameter(obj)
    if first is None or not _is_annotation(first.annotation, Task):
        return False
    ret = inspect.signature(obj).return_annotation
    return ret is inspect.Signature.empty or _is_annotation(ret, Result)


def _builtins() -> dict[str, TaskInfo]:
    from nornflow.workflow import tasks as builtin
    from nornflow.workflow.checks import assert_task

    found = {
        name: TaskInfo.of(name, getattr(builtin, name), "nornflow (built-in)")
        for name in ("echo", "set", "write_file", "pause")
    }
    found["assert"] = TaskInfo.of("assert", assert_task, "nornflow (built-in)")
    return found


class TaskCatalog:
    """Name -> task, from the built-ins plus the project's task dirs (project tasks win on a clash)
    and the packages' (:data:`qualified` names them all ``nornflow.``/``local.``/``PACKAGE.``)."""

    def __init__(self, task_dirs: Iterable[str | Path] = ()) -> None:
        self.tasks: dict[str, TaskInfo] = _builtins()
        #: every task by its qualified name: ``nornflow.echo``, ``local.backup``, ``acme.backup``
        self.qualified: dict[str, TaskInfo] = {f"nornflow.{n}": info for n, info in self.tasks.items()}
        #: bare names two packages provide: name -> their qualified names
        self.ambiguous: dict[str, list[str]] = {}
        self._builtin_names = set(self.tasks)
        package_tasks: list[tuple[str, TaskInfo]] = []
        for directory in task_dirs:
            for namespace, info in self._scan(Path(directory)):
                if namespace == "local":
                    self.tasks[info.name] = info
                else:
                    package_tasks.append((namespace, info))
        self._add_package_tasks(package_tasks)

    def _add_package_tasks(self, found: list[tuple[str, TaskInfo]]) -> None:
        """Bare names for package tasks that neither the project nor nornflow has, unless two packages
        provide the same one."""
        owners: dict[str, list[str]] = {}
        for namespace, info in found:
            owners.setdefault(info.name, []).append(f"{namespace}.{info.name}")
        for _namespace, info in found:
            name = info.name
            if name in self._builtin_names or self.qualified.get(f"local.{name}") is not None:
                continue
            if len(set(owners[name])) > 1:
                self.ambiguous[name] = sorted(set(owners[name]))
                self.tasks.pop(name, None)
            else:
                self.tasks[name] = info

    def _scan(self, directory: Path) -> list[tuple[str, TaskInfo]]:
        if not directory.is_dir():
            return []
        inside = package_of(directory / "__init__.py")
        namespace = inside[0] if inside is not None else "local"
        found: list[tuple[str, TaskInfo]] = []
        seen: dict[str, str] = {}
        for path in sorted(directory.rglob("*.py")):
            # only folders inside the task dir count: the project itself may live under ~/.work/...
            if path.name.startswith("_") or any(p.startswith(".") for p in path.relative_to(directory).parts):
                continue
            try:
                module = import_file(path, "nornflow_project_tasks")
            except Exception as exc:
                raise TaskImportError(
                    f"cannot import task module: {type(exc).__name__}: {exc}", file=str(path)
                ) from exc
            except SystemExit as exc:
                raise TaskImportError(f"task module called exit({exc.code})", file=str(path)) from None
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                if not is_task_function(obj):
                    continue
                if name in seen:
                    raise TaskImportError(
                        f"task {name!r} is defined twice: in {seen[name]} and in {path}", file=str(path)
                    )
                seen[name] = str(path)
                info = TaskInfo.of(name, obj, str(path))
                self.qualified[f"{namespace}.{name}"] = info
                found.append((namespace, info))
        return found

    def get(self, name: str) -> TaskInfo:
        """The task called ``name``: catalog first, then a dotted ``module.function`` import path."""
        info = self.tasks.get(name) or self.qualified.get(name)
        if info is not None:
            return info
        if name in self.ambiguous:
            raise TaskNotFoundError(
                f"task {name!r} is ambiguous: packages provide {' and '.join(self.ambiguous[name])}; "
                "use one of these names",
                task=name,
            )
        if "." in name:
            module_name, _, attr = name.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise TaskNotFoundError(
                    f"cannot import module {module_name!r} for task {name!r}: {type(exc).__name__}: {exc}",
                    task=name,
                ) from exc
            func = getattr(module, attr, None)
            if func is None or not callable(func):
                raise TaskNotFoundError(f"module {module_name!r} has no task function {attr!r}", task=name)
            info = TaskInfo.of(name, func, module_name)
            self.tasks[name] = info
            return info
        import difflib

        close = difflib.get_close_matches(name, list(self.tasks), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TaskNotFoundError(
            f"unknown task {name!r} (known tasks: {', '.join(sorted(self.tasks))}; or use a dotted "
            f"import path such as 'package.module.function').{hint}",
            task=name,
        )

    def __contains__(self, name: object) -> bool:
        return name in self.tasks

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.tasks))
