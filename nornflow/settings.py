"""Project settings: ``nornflow.yaml`` in the project root.

Unknown keys and wrong types are errors naming the key and the file. Relative paths are resolved
against the directory of the settings file, so a project runs the same from any working directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nornflow.exceptions import SettingsError

__all__ = [
    "SETTINGS_FILE",
    "FailureStrategy",
    "InventorySettings",
    "ProcessorSpec",
    "Settings",
    "find_settings",
    "runner_class",
    "runner_plugins",
]

SETTINGS_FILE = "nornflow.yaml"


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
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str | None = Field(default=None, exclude=True)

    @field_validator(
        "task_dirs", "workflow_dirs", "hook_dirs", "j2_filter_dirs", "filter_dirs", mode="before"
    )
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return [] if value is None else value

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
        """Validate a settings mapping; errors name the key and the file."""
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
        try:
            return cls(**dict(data), base_dir=base_dir, source=source)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = err.get("msg", "invalid value")
            if err.get("type") == "extra_forbidden":
                msg = f"unknown key (valid keys: {cls._valid_keys()})"
            more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
            line = _key_line(data, loc.split(".")[0]) if loc else None
            raise SettingsError(f"{msg}{more}", file=source, key=loc or None, line=line) from None

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
        return data


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
    return plugin if isinstance(plugin, type) else plugin.load()  # type: ignore[no-any-return]


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
