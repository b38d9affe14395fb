"""Project settings: ``nornflow.yaml`` in the project root.

Unknown keys and wrong types are errors naming the key and the file. Relative paths are resolved
against the directory of the settings file, so a project runs the same from any working directory.

The settings file is ``$NORNFLOW_SETTINGS`` when set, else the one given (``--settings``, a path to
``NornFlow``), else ``nornflow.yaml`` (:func:`settings_path`). A settings file written for the other
NornFlow (NornFlow 1.0) is read as it is: its spellings (``local_tasks``, ...) are mapped onto
nornflow's keys (:data:`OTHER_SPELLINGS`), nornflow's own spelling being the canonical one; a file
giving both spellings of one setting is an error naming both keys.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from nornflow.exceptions import SettingsError

__all__ = [
    "OTHER_NORNFLOW_PROCESSORS",
    "OTHER_SECTIONS",
    "OTHER_SPELLINGS",
    "SETTINGS_ENV",
    "SETTINGS_FILE",
    "ExecutorSettings",
    "FailureStrategy",
    "InventorySettings",
    "PackageSpec",
    "ProcessorSpec",
    "Settings",
    "TLSSettings",
    "find_settings",
    "other_nornflow_processor",
    "runner_class",
    "runner_plugins",
    "settings_path",
    "without_other_nornflow_processors",
]

SETTINGS_FILE = "nornflow.yaml"
#: The environment variable naming the settings file; it wins over ``--settings`` (as in NornFlow 1.0).
SETTINGS_ENV = "NORNFLOW_SETTINGS"

log = logging.getLogger(__name__)

#: NornFlow 1.0's spellings of nornflow's settings: its key -> nornflow's key. Keys both spell the
#: same way (``nornir_config_file``, ``vars_dir``, ``dry_run``, ``failure_strategy``, ``processors``)
#: are not listed.
OTHER_SPELLINGS: dict[str, str] = {
    "local_tasks": "task_dirs",
    "local_workflows": "workflow_dirs",
    "local_filters": "filter_dirs",
    "local_hooks": "hook_dirs",
    "local_blueprints": "blueprint_dirs",
    "local_j2_filters": "j2_filter_dirs",
}
#: NornFlow 1.0's sections whose keys are nornflow settings of their own: section -> {its key ->
#: nornflow's key}; ``None``: a key with no separate meaning in nornflow (a warning says what is done).
OTHER_SECTIONS: dict[str, dict[str, str | None]] = {
    "logger": {"directory": "log_dir", "level": "log_level"},
    "redaction": {"enabled": "mask_secrets", "sensitive_names": "secret_names", "logs_enabled": None},
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_WARNED: set[tuple[str | None, str]] = set()


class FailureStrategy(StrEnum):
    """What happens to later tasks when a host fails a task."""

    #: A failed host is left out of the later tasks; the other hosts go on (default).
    SKIP_FAILED = "skip-failed"
    #: The first failure stops the run: no new host is scheduled, later tasks do not run.
    FAIL_FAST = "fail-fast"
    #: Every host runs every task, failed or not.
    RUN_ALL = "run-all"


class ProcessorSpec(BaseModel):
    """A Nornir processor to attach to a run: its class (a dotted import path) and its arguments."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field(alias="class", min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_")
    @classmethod
    def _dotted(cls, value: str) -> str:
        value = value.strip()
        module, _, name = value.rpartition(".")
        if not module or not name.isidentifier():
            raise ValueError(
                f"must be a dotted import path such as 'package.module.Processor', got {value!r}"
            )
        return value


#: NornFlow 1.0's own processors, by class name, and what nornflow does instead. ``processors:``
#: entries naming one of them (``nornflow.builtins.DefaultNornFlowProcessor``, any module path under
#: ``nornflow.builtins`` or ``nornflow.vars.processors``) are accepted and left out, with an info note.
OTHER_NORNFLOW_PROCESSORS: dict[str, str] = {
    "DefaultNornFlowProcessor": "nornflow's console prints each task's results, masked, and the recap",
    "NornFlowHookProcessor": "nornflow runs hooks itself",
    "NornFlowVariableProcessor": "nornflow renders variables itself",
    "NornFlowFailureStrategyProcessor": "nornflow applies the failure strategy itself",
}
_OTHER_PROCESSOR_MODULES = ("nornflow.builtins", "nornflow.vars.processors")
_NOTED: set[str] = set()


def other_nornflow_processor(path: str) -> str | None:
    """What nornflow does instead of NornFlow 1.0's processor ``path``, or None for any other class."""
    module, _, name = path.rpartition(".")
    if name not in OTHER_NORNFLOW_PROCESSORS:
        return None
    if not any(module == m or module.startswith(m + ".") for m in _OTHER_PROCESSOR_MODULES):
        return None
    return OTHER_NORNFLOW_PROCESSORS[name]


def without_other_nornflow_processors(specs: list[ProcessorSpec]) -> list[ProcessorSpec]:
    """``specs`` without NornFlow 1.0's own processors (nornflow has each built in); each left out
    is noted once per process (INFO, shown with ``--debug``)."""
    kept = []
    for spec in specs:
        instead = other_nornflow_processor(spec.class_)
        if instead is None:
            kept.append(spec)
        elif spec.class_ not in _NOTED:
            _NOTED.add(spec.class_)
            log.info("processor %s (NornFlow 1.0's) is not needed and left out: %s", spec.class_, instead)
    return kept


#: A package's resource folders (NornFlow 1.0's names).
RESOURCE_KINDS = ("tasks", "workflows", "blueprints", "filters", "hooks", "j2_filters", "processors")
#: The settings key each kind of folder is added to (processors: none, they are named by class path).
SETTINGS_KEYS = {
    "tasks": "task_dirs",
    "workflows": "workflow_dirs",
    "blueprints": "blueprint_dirs",
    "filters": "filter_dirs",
    "hooks": "hook_dirs",
    "j2_filters": "j2_filter_dirs",
}


class PackageSpec(BaseModel):
    """An installed package whose resources load with the project's (:mod:`nornflow.workflow.packages`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    #: the kinds of resources taken from it (``tasks``, ``hooks``, ...); None: every kind it has
    include: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _importable(cls, value: str) -> str:
        value = value.strip()
        if not all(part.isidentifier() for part in value.split(".")):
            raise ValueError(f"must be an importable package name such as 'nornflow_acme', got {value!r}")
        return value

    @field_validator("include")
    @classmethod
    def _kinds(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(f"must name at least one of {', '.join(RESOURCE_KINDS)} (or leave include out)")
        unknown = [k for k in value if k not in RESOURCE_KINDS]
        if unknown:
            raise ValueError(f"unknown resource kind {unknown[0]!r} (kinds: {', '.join(RESOURCE_KINDS)})")
        return list(dict.fromkeys(value))


class TLSSettings(BaseModel):
    """The TLS files a ``tls://`` Dask scheduler asks for (Dask's own config is used when absent)."""

    model_config = ConfigDict(extra="forbid")

    ca_file: str
    cert: str
    key: str | None = None


class ExecutorSettings(BaseModel):
    """Where a run's hosts run: ``local`` (this process, the default) or ``dask`` (shards of hosts in
    Dask worker processes, see docs/scale-out.md)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "dask"] = "local"
    #: the number of shards (contiguous host ranges, one per Dask worker); default: one per worker
    shards: int | None = Field(default=None, ge=1, le=1024)
    #: an existing scheduler (``tcp://HOST:PORT`` or ``tls://...``); None starts a local cluster
    scheduler: str | None = None
    #: seconds to wait for the scheduler and its workers before the run gives up (exit 3)
    connect_timeout: float = Field(default=10.0, gt=0, le=3600)
    tls: TLSSettings | None = None

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ValueError(f"must be a scheduler address such as tcp://HOST:8786, got {value!r}")
        return value


class InventorySettings(BaseModel):
    """An inventory without a Nornir config file: YAML files, or hosts/groups/defaults inline."""

    model_config = ConfigDict(extra="forbid")

    host_file: str | None = None
    group_file: str | None = None
    defaults_file: str | None = None
    hosts: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    defaults: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> InventorySettings:
        if self.host_file is None and self.hosts is None:
            raise ValueError("give either 'host_file' (with optional group_file/defaults_file) or 'hosts'")
        if self.host_file is not None and self.hosts is not None:
            raise ValueError("give 'host_file' or inline 'hosts', not both")
        return self


class Settings(BaseModel):
    """What ``nornflow.yaml`` may contain (every key optional; defaults make ``init`` projects run)."""

    model_config = ConfigDict(extra="forbid")

    nornir_config_file: str | None = None
    inventory: InventorySettings | None = None
    task_dirs: list[str] = Field(default_factory=lambda: ["tasks"])
    workflow_dirs: list[str] = Field(default_factory=lambda: ["workflows"])
    hook_dirs: list[str] = Field(default_factory=lambda: ["hooks"])
    #: Blueprints: YAML task lists a workflow includes with ``- blueprint: NAME``.
    blueprint_dirs: list[str] = Field(default_factory=lambda: ["blueprints"])
    #: Jinja2 filter modules: every public function of their ``.py`` files becomes a filter.
    j2_filter_dirs: list[str] = Field(default_factory=lambda: ["j2_filters"])
    #: Inventory filter modules: public functions taking ``host`` first become inventory filters.
    filter_dirs: list[str] = Field(default_factory=lambda: ["filters"])
    vars_dir: str = "vars"
    failure_strategy: FailureStrategy = FailureStrategy.SKIP_FAILED
    dry_run: bool = False
    #: The Nornir runner plugin that spreads a task's hosts over the workers, by its registered name:
    #: ``work_queue`` (nornflow's, default: adaptive threads), Nornir's ``threaded`` and ``serial``,
    #: or any third-party runner plugin. ``runner_options`` are its keyword arguments.
    runner: str = "work_queue"
    runner_options: dict[str, Any] = Field(default_factory=dict)
    #: Nornir processors of every run: ``{class: dotted.path.Processor, args: {...}}``.
    processors: list[ProcessorSpec] = Field(default_factory=list)
    workers: int = Field(default=20, ge=1, le=1024)
    #: Where the hosts run: ``{kind: local}`` (default) or ``{kind: dask, shards: N, scheduler: ...}``.
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    #: Timed-out attempts whose threads still run (Python cannot kill them) past which new attempts of
    #: tasks with ``timeout`` fail at once, instead of adding threads until the process runs out.
    max_abandoned_threads: int = Field(default=100, ge=1, le=100_000)
    #: Mask secrets in console output, logs and JSON (``--show-secrets`` turns it off for one run).
    mask_secrets: bool = True
    #: Key names whose values are secrets too, besides nornflow's rule (``vendor_pin``).
    secret_names: list[str] = Field(default_factory=list)
    #: Where ``write_file`` may write besides the project directory when the path comes from a template
    #: or host data (relative to the project); a path the workflow names literally may go anywhere.
    output_dirs: list[str] = Field(default_factory=list)
    #: Write the log of every ``nornflow run`` to ``<log_dir>/<workflow>_<YYYYmmdd_HHMMSS>.log``.
    log_dir: str | None = None
    #: What the log file records: DEBUG, INFO (default), WARNING, ERROR or CRITICAL.
    log_level: str = "INFO"
    #: Journal every run in ``.nornflow/runs/<run-id>/`` (``--no-journal`` turns it off for one run).
    journal: bool = True
    #: Journaled runs kept: the oldest beyond this many are deleted when a run starts (0: no limit).
    journal_keep: int = Field(default=50, ge=0)
    #: Journaled runs older than this many days are deleted when a run starts (0: no limit).
    journal_max_age_days: float = Field(default=30.0, ge=0)
    #: Installed packages whose tasks, hooks, filters, blueprints and workflows load with the project's.
    packages: list[PackageSpec] = Field(default_factory=list)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str | None = Field(default=None, exclude=True)
    _spellings: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator(
        "task_dirs",
        "workflow_dirs",
        "hook_dirs",
        "blueprint_dirs",
        "j2_filter_dirs",
        "filter_dirs",
        "output_dirs",
        mode="before",
    )
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return [] if value is None else value

    @field_validator("processors")
    @classmethod
    def _own_processors(cls, value: list[ProcessorSpec]) -> list[ProcessorSpec]:
        return without_other_nornflow_processors(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().upper() in _LOG_LEVELS:
            return value.strip().upper()
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")

    @field_validator("packages")
    @classmethod
    def _one_each(cls, value: list[PackageSpec]) -> list[PackageSpec]:
        names = [p.name for p in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"package {twice[0]!r} is listed twice")
        return value

    @field_validator("secret_names", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else [] if value is None else value

    @field_validator("runner")
    @classmethod
    def _known_runner(cls, value: str) -> str:
        value = value.strip()
        known = {"work_queue", *runner_plugins()}  # nornflow's own is known without its entry point
        if value not in known:
            raise ValueError(f"unknown runner plugin {value!r} (registered: {', '.join(sorted(known))})")
        return value

    @model_validator(mode="after")
    def _inventory_source(self) -> Settings:
        if self.nornir_config_file and self.inventory is not None:
            raise ValueError("give 'nornir_config_file' or 'inventory', not both")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base_dir: Path, source: str | None = None) -> Self:
        """Validate a settings mapping (nornflow's keys or NornFlow 1.0's spellings); errors name the
        key as written and the file."""
        if not isinstance(data, Mapping):
            raise SettingsError(f"settings must be a mapping, got {type(data).__name__}", file=source)
        # Checked before ``cls(**data)``: a non-string key would be a TypeError there, and a key naming
        # an internal field would collide with the keyword argument (or silently move the project).
        for key in data:
            if not isinstance(key, str):
                raise SettingsError(
                    f"keys must be strings, got {type(key).__name__} {key!r}",
                    file=source,
                    key=str(key),
                    line=_key_line(data, key),
                )
            if key in _INTERNAL_FIELDS:
                raise SettingsError(
                    f"unknown key (valid keys: {cls._valid_keys()})",
                    file=source,
                    key=key,
                    line=_key_line(data, key),
                )
        values, written = _canonical(data, source)
        try:
            settings = cls(**values, base_dir=base_dir, source=source)
        except ValidationError as exc:
            err = exc.errors()[0]
            parts = [str(p) for p in err.get("loc", ())]
            if parts and parts[0] in written:
                parts[0] = written[parts[0]]
            loc = ".".join(parts)
            msg = err.get("msg", "invalid value")
            if err.get("type") == "extra_forbidden":
                msg = _unknown_key_message(cls, parts[0] if parts else "")
            more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
            raise SettingsError(
                f"{msg}{more}", file=source, key=loc or None, line=_line(data, loc or None)
            ) from None
        settings._spellings = {key: spelled for key, spelled in written.items() if spelled != key}
        return settings

    @property
    def spellings(self) -> dict[str, str]:
        """nornflow key -> how the settings file spelled it, for the keys it spelled NornFlow 1.0's way."""
        return dict(self._spellings)

    @classmethod
    def _valid_keys(cls) -> str:
        """The keys a settings file may hold, for error messages."""
        return ", ".join(k for k in cls.model_fields if k not in _INTERNAL_FIELDS)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and validate a settings file."""
        from nornflow.exceptions import YAMLLoadError
        from nornflow.yamlio import load_yaml_file

        path = Path(path)
        if not _is_settings_file(path):
            raise SettingsError(
                "settings file not found (run `nornflow init` to create a project)", file=str(path)
            )
        try:
            data = load_yaml_file(path)
        except YAMLLoadError as exc:
            raise SettingsError(exc.message, file=exc.file, line=exc.line, column=exc.column) from None
        if data is None:
            data = {}
        return cls.from_mapping(data, base_dir=path.resolve().parent, source=str(path))

    def with_dirs(self, extra: Mapping[str, Sequence[str]]) -> Self:
        """These settings with more folders (``{"task_dirs": [...], ...}``) after the project's own:
        what installed packages bring (``nornflow.workflow.packages``)."""
        if not extra:
            return self
        twin = self.model_copy(update={key: [*getattr(self, key), *dirs] for key, dirs in extra.items()})
        twin._spellings = dict(self._spellings)
        return twin

    def resolve(self, value: str | Path) -> Path:
        """A path from the settings, made absolute against the project directory."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def as_dict(self) -> dict[str, Any]:
        """The effective settings (``nornflow show settings``)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["project_dir"] = str(self.base_dir)
        if self.source:
            data["settings_file"] = self.source
        if self.spellings:
            data["spelled_as"] = dict(self.spellings)
        return data


def _line(data: Any, key: str | None) -> int | None:
    """The line of ``key`` (``logger.level``: a key of a section) in a settings mapping loaded with
    positions, if known."""
    if key is None or not hasattr(data, "key_position"):
        return None
    section, _, sub = key.partition(".")
    inner = data.get(section) if sub and section in OTHER_SECTIONS else None
    pos = None
    if inner is not None and hasattr(inner, "key_position"):
        pos = inner.key_position(sub.partition(".")[0])
    pos = pos or data.key_position(key) or data.key_position(section)
    return pos[0] if pos else None


def _unknown_key_message(cls: type[BaseModel], key: str) -> str:
    valid = [k for k in cls.model_fields if k not in _INTERNAL_FIELDS]
    close = difflib.get_close_matches(key, [*valid, *OTHER_SPELLINGS], n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown key (valid keys: {', '.join(valid)}; NornFlow 1.0 spellings: "
        f"{', '.join([*OTHER_SPELLINGS, *OTHER_SECTIONS])}){hint}"
    )


def _canonical(data: Mapping[str, Any], source: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with NornFlow 1.0's spellings renamed to nornflow's keys (its ``logger`` and
    ``redaction`` sections spread into nornflow's keys), and, for every key, how the file spelled it
    (``logger.level``). Both spellings of one setting in the same file is an error naming both."""
    values: dict[str, Any] = {}
    written: dict[str, str] = {}

    def put(canonical: Any, spelled: str, value: Any) -> None:
        if canonical in values:
            raise SettingsError(
                f"{written[canonical]!r} and {spelled!r} are two spellings of the same setting "
                f"({canonical}); keep one",
                file=source,
                key=spelled,
                line=_line(data, spelled),
            )
        values[canonical] = value
        written[canonical] = spelled

    for key, value in data.items():
        if isinstance(key, str) and key in OTHER_SECTIONS:
            _section(key, value, put, data, source)
        else:
            put(OTHER_SPELLINGS.get(key, key) if isinstance(key, str) else key, str(key), value)
    return values, written


def _section(section: str, value: Any, put: Any, data: Mapping[str, Any], source: str | None) -> None:
    """Spread NornFlow 1.0's ``logger``/``redaction`` section into nornflow's keys."""
    keys = OTHER_SECTIONS[section]
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise SettingsError(
            f"must be a mapping of {', '.join(keys)}, got {type(value).__name__}",
            file=source,
            key=section,
            line=_line(data, section),
        )
    for sub, sub_value in value.items():
        spelled = f"{section}.{sub}"
        if sub not in keys:
            raise SettingsError(
                f"unknown key (valid keys of {section}: {', '.join(keys)})",
                file=source,
                key=spelled,
                line=_line(data, spelled),
            )
        canonical = keys[sub]
        if canonical is not None:
            put(canonical, spelled, sub_value)
    if section == "redaction" and "logs_enabled" in value:
        _logs_enabled(value, data, source)


def _logs_enabled(redaction: Mapping[str, Any], data: Mapping[str, Any], source: str | None) -> None:
    """NornFlow 1.0's ``redaction.logs_enabled``: nornflow masks logs exactly as the console and the
    JSON, so a value that differs from ``enabled`` cannot be honoured: a warning says so, once."""
    logs, enabled = redaction["logs_enabled"], redaction.get("enabled", True)
    if not isinstance(logs, bool):
        raise SettingsError(
            f"must be true or false, got {logs!r}",
            file=source,
            key="redaction.logs_enabled",
            line=_line(data, "redaction.logs_enabled"),
        )
    if logs != enabled and (source, "redaction.logs_enabled") not in _WARNED:
        _WARNED.add((source, "redaction.logs_enabled"))
        log.warning(
            "%s: redaction.logs_enabled: %s is not applied: nornflow masks secrets in logs exactly as on the "
            "console and in --json (mask_secrets, here redaction.enabled: %s)",
            source or "settings",
            str(logs).lower(),
            str(enabled).lower(),
        )


def settings_path(
    explicit: str | Path | None = None,
    *,
    default: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """The settings file to read: ``$NORNFLOW_SETTINGS``, else ``explicit``, else ``default``.

    NornFlow 1.0's order, kept so that its users' scripts keep working; when the environment variable
    overrides a different explicit file, a warning says which file is read.
    """
    env = (os.environ if environ is None else environ).get(SETTINGS_ENV, "").strip()
    if env:
        chosen = Path(env).expanduser()
        if explicit is not None and Path(explicit).expanduser().resolve() != chosen.resolve():
            log.warning("%s=%s wins over the settings file %s; reading %s", SETTINGS_ENV, env, explicit, env)
        return chosen
    if explicit is not None:
        return Path(explicit).expanduser()
    return Path(default) if default is not None else None


def runner_plugins() -> dict[str, Any]:
    """Every Nornir runner plugin, by name: those installed packages declare (entry points
    ``nornir.plugins.runners``: Nornir's ``threaded`` and ``serial``, nornflow's ``work_queue``, any
    third party's), and those registered in code with ``RunnersPluginRegister.register``.

    Values are entry points or classes (:func:`runner_class` loads them). Nornir's registers share one
    dict across plugin kinds, so registered names count only for runner-like classes (with ``run``).
    """
    from importlib import metadata

    from nornir.core.plugins.runners import RunnersPluginRegister

    found: dict[str, Any] = {ep.name: ep for ep in metadata.entry_points(group="nornir.plugins.runners")}
    for name, plugin in RunnersPluginRegister.available.items():
        if name not in found and isinstance(plugin, type) and callable(getattr(plugin, "run", None)):
            found[name] = plugin
    return found


def runner_class(name: str) -> type:
    """The runner plugin class registered as ``name`` (see :func:`runner_plugins`)."""
    plugin = runner_plugins()[name]
    return plugin if isinstance(plugin, type) else plugin.load()


def find_settings(start: str | Path | None = None) -> Path | None:
    """The nearest ``nornflow.yaml`` in ``start`` or its parents, or None."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / SETTINGS_FILE
        if _is_settings_file(candidate):
            return candidate
    return None


#: Fields set by the loader (where the file is), never by a key in the file.
_INTERNAL_FIELDS = frozenset({"base_dir", "source"})


def _key_line(data: Mapping[Any, Any], key: Any) -> int | None:
    """The line of ``key`` in the YAML file ``data`` came from, if known."""
    position = data.key_position(key) if hasattr(data, "key_position") else None
    return position[0] if position else None


def _is_settings_file(path: Path) -> bool:
    """``path.is_file()``, but a path the OS refuses to look up (a name too long, an unreadable
    directory) is a SettingsError naming it instead of an OSError escaping as an internal error."""
    try:
        return path.is_file()
    except OSError as exc:
        raise SettingsError(
            f"cannot look up the settings file: {exc.strerror or exc}", file=str(path)
        ) from exc
