"""``NornFlow``: the Python API. Settings -> inventory -> workflow -> run, with hooks on every host.

Build it from a settings path (``nornflow.yaml``) or from objects, then ``run(workflow)`` returns a
:class:`~nornflow.run.results.WorkflowResult`. Every task and hook is validated before the first task
runs. The library leaves its host process alone: the garbage collector is tuned (frozen after a large
inventory loads, paused during fan-outs) only when asked with ``tune_gc=True``, as the CLI does.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import Inventory

from nornflow.exceptions import InventoryError, NornFlowError, SettingsError, TaskNotFoundError, WorkflowError
from nornflow.fileio import OutputPolicy
from nornflow.hooks.builtins import execution as execution_hooks
from nornflow.hooks.loader import load_hook_dirs
from nornflow.inventory import filters as filters_mod
from nornflow.jinja_filters import load_j2_filter_dirs
from nornflow.models.workflow import WorkflowModel
from nornflow.run.driver import run_workflow
from nornflow.run.executor import Executor, LocalExecutor
from nornflow.run.journal import JournalMasking
from nornflow.run.prepare import PreparedWorkflow, prepare
from nornflow.run.processors import load_processor_class, make_processors
from nornflow.run.reporter import Reporter
from nornflow.run.results import WorkflowResult
from nornflow.run.resume import discard_unstarted, run_once_hook, start_journal
from nornflow.run.selection import select_tasks, serial_sizes
from nornflow.secrets import add_secret_names
from nornflow.settings import ExecutorSettings, FailureStrategy, Settings, settings_path
from nornflow.templating import environment
from nornflow.vars import domain_of, env_vars, static_layers, vars_file
from nornflow.workflow.blueprints import BlueprintCatalog, LoadContext, find_below
from nornflow.workflow.catalog import TaskCatalog
from nornflow.workflow.loader import safe_workflow_lookup
from nornflow.workflow.packages import with_packages

__all__ = ["GC_TUNING_HOSTS", "NornFlow"]

#: With ``tune_gc``, inventories of this many hosts or more are frozen out of the GC's sight once loaded.
GC_TUNING_HOSTS = 1000


class NornFlow:
    """Run YAML workflows with hooks on a Nornir inventory."""

    def __init__(
        self,
        settings: Settings | str | Path | None = None,
        *,
        nornir: Nornir | None = None,
        inventory: Inventory | None = None,
        workers: int | None = None,
        processors: Sequence[Any] = (),
        environ: Mapping[str, str] | None = None,
        tune_gc: bool = False,
    ) -> None:
        """``settings``: a ``Settings``, a path to ``nornflow.yaml``, or None (defaults, cwd); a path
        or None gives way to ``$NORNFLOW_SETTINGS`` when it is set.
        ``nornir``/``inventory`` give the hosts in code; ``processors`` are Nornir processor objects
        added before the project's; ``tune_gc`` lets nornflow freeze and pause the GC (the CLI does)."""
        if isinstance(settings, Settings):
            self.settings = settings
        else:
            path = settings_path(settings)  # $NORNFLOW_SETTINGS first, as in NornFlow 1.0
            self.settings = Settings.load(path) if path is not None else Settings(base_dir=Path.cwd())
        self.settings = with_packages(self.settings)  # packages' folders after the project's own
        self.workers = workers if workers is not None else self.settings.workers
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {self.workers}", key="workers")
        self.tune_gc = tune_gc
        self._gc_tuned = False
        self._environ = environ
        self._config: Config | None = nornir.config if nornir is not None else None
        self._inventory = inventory if inventory is not None else (nornir.inventory if nornir else None)
        self._inventory_in_code = self._inventory is not None
        self._processor_objects = list(processors)
        self._processor_classes = [
            (
                load_processor_class(spec, file=self.settings.source, key=f"processors[{n}].class"),
                dict(spec.args),
                spec.class_,
            )
            for n, spec in enumerate(self.settings.processors)
        ]
        add_secret_names(self.settings.secret_names)
        load_hook_dirs(self.settings.resolve(d) for d in self.settings.hook_dirs)
        load_j2_filter_dirs((self.settings.resolve(d) for d in self.settings.j2_filter_dirs), environment)
        filters_mod.load_filter_dirs(self.settings.resolve(d) for d in self.settings.filter_dirs)
        self.catalog = TaskCatalog(self.settings.resolve(d) for d in self.settings.task_dirs)
        self._blueprints: BlueprintCatalog | None = None

    # -- inventory ---------------------------------------------------------------------------------

    @property
    def inventory(self) -> Inventory:
        """The inventory (loaded once, on first use)."""
        if self._inventory is None:
            self._inventory = self._load_inventory()
        if self.tune_gc and not self._gc_tuned and len(self._inventory.hosts) >= GC_TUNING_HOSTS:
            # the inventory lives as long as the runs: keep the GC from rescanning it on every pass
            self._gc_tuned = True
            gc.collect()
            gc.freeze()
        return self._inventory

    def _load_inventory(self) -> Inventory:
        s = self.settings
        if s.nornir_config_file:
            from nornir import InitNornir
            from nornir.core.exceptions import ConflictingConfigurationWarning

            path = s.resolve(s.nornir_config_file)
            if not path.is_file():
                raise SettingsError("Nornir config file not found", file=str(path), key="nornir_config_file")
            try:
                # Nornir's own file log (nornir.log, mode 0644, raw passwords in tracebacks) only when
                # the user's config asks for it: its default is on
                logging: dict[str, Any] = {"logging": {"enabled": False}}
                if _asks_for_nornir_logging(path):
                    logging = {}
                with warnings.catch_warnings():
                    # with a config that enables it, Nornir warns that "native Python logging" is set
                    # up (the CLI's own handler that masks secrets) on every run: expected, and noise
                    warnings.simplefilter("ignore", ConflictingConfigurationWarning)
                    nr = InitNornir(config_file=str(path), **logging)
            except NornFlowError:
                raise
            except Exception as exc:
                raise InventoryError(
                    f"cannot load inventory: {type(exc).__name__}: {exc}", file=str(path)
                ) from exc
            self._config = nr.config
            return nr.inventory
        from nornflow.inventory import inventory_from_data, load_inventory

        inv = s.inventory
        if inv is None:
            default = s.resolve("inventory/hosts.yaml")
            if default.is_file():
                return load_inventory(
                    default, s.resolve("inventory/groups.yaml"), s.resolve("inventory/defaults.yaml")
                )
            raise SettingsError(
                "no inventory: set 'inventory' (host_file or inline hosts) or 'nornir_config_file'",
                file=s.source,
                key="inventory",
            )
        if inv.hosts is not None:
            return inventory_from_data(inv.hosts, inv.groups or {}, inv.defaults or {}, source=s.source)
        assert inv.host_file is not None
        return load_inventory(
            s.resolve(inv.host_file),
            s.resolve(inv.group_file) if inv.group_file else None,
            s.resolve(inv.defaults_file) if inv.defaults_file else None,
        )

    # -- workflows ---------------------------------------------------------------------------------

    @safe_workflow_lookup
    def find_workflow(self, name: str) -> Path | None:
        """Resolve a workflow reference: a path, or a name in the workflow dirs (with/without .yaml),
        at their top or in a domain folder below (``daily`` for ``workflows/backup/daily.yaml``; a
        name two domains share is an error naming both files)."""
        direct = Path(name).expanduser()
        if direct.suffix in (".yaml", ".yml") and direct.is_file():
            return direct
        if (self.settings.base_dir / name).is_file() and direct.suffix in (".yaml", ".yml"):
            return self.settings.base_dir / name
        for directory in self.settings.workflow_dirs:
            base = self.settings.resolve(directory)
            for candidate in (base / name, base / f"{name}.yaml", base / f"{name}.yml"):
                if candidate.is_file():
                    return candidate
        below = find_below((self.settings.resolve(d) for d in self.settings.workflow_dirs), name)
        if len(below) > 1:
            raise WorkflowError(f"workflow {name!r} is ambiguous: {', '.join(map(str, below))} (give a path)")
        return below[0] if below else None

    def workflows(self) -> dict[str, Path]:
        """Every workflow file in the workflow dirs, by the name ``run`` takes: its path relative to
        its workflow dir without the suffix (``backup``, ``site_a/backup``)."""
        from nornflow.workflow.discovery import workflow_files

        dirs = [self.settings.resolve(d) for d in self.settings.workflow_dirs]
        return {w.name: w.path for w in workflow_files(dirs)}

    @property
    def blueprints(self) -> BlueprintCatalog:
        """The blueprints of the project's blueprint dirs (scanned once, on first use)."""
        if self._blueprints is None:
            s = self.settings
            self._blueprints = BlueprintCatalog((s.resolve(d) for d in s.blueprint_dirs), base_dir=s.base_dir)
        return self._blueprints

    def load_context(
        self, file: str | Path | None = None, vars: Mapping[str, Any] | None = None
    ) -> LoadContext:
        """What loading the workflow ``file`` sees: the blueprints, and its static variables below its
        own ``vars`` (environment, project defaults, its domain's defaults) and above (``vars``)."""
        below = static_layers(
            environment=env_vars(self._environ), defaults=self.default_vars(), domain=self.domain_vars(file)
        )
        return LoadContext(self.blueprints, below, dict(vars or {}))

    def load_workflow(
        self, ref: str | Path | Mapping[str, Any] | WorkflowModel, *, vars: Mapping[str, Any] | None = None
    ) -> PreparedWorkflow:
        """Load and fully validate a workflow: a model, a mapping, a file, a workflow name or a task.

        ``vars`` (the CLI's ``--vars``) are what blueprint names and conditions see above the
        workflow's own vars; pass the run's."""
        from nornflow.workflow.loader import load_workflow_file, workflow_from_mapping

        file = None
        source: Any = None
        if isinstance(ref, WorkflowModel):
            model = ref
        elif isinstance(ref, Mapping):
            model = workflow_from_mapping(ref, context=self.load_context(None, vars))
            source = ref
        else:
            path = self.find_workflow(str(ref))
            if path is not None:
                file = str(path)
                model = load_workflow_file(path, context=self.load_context(path, vars))
                source = str(Path(path).resolve())
            elif isinstance(ref, str) and not ref.endswith((".yaml", ".yml")):
                try:
                    self.catalog.get(ref)
                except TaskNotFoundError:
                    raise WorkflowError(self._not_found(ref)) from None
                model = WorkflowModel.create({"name": ref, "tasks": [{"name": ref}]})
                source = {"workflow": {"name": ref, "tasks": [{"name": ref}]}}
            else:
                raise WorkflowError(f"workflow file not found: {ref}", file=str(ref))
        prepared = self.prepare(model, file=file)
        prepared.source = source
        return prepared

    def _not_found(self, ref: str) -> str:
        """Why ``ref`` names nothing, with the closest workflow or task name ("did you mean")."""
        from nornflow.workflow.discovery import closest

        workflows = list(self.workflows())
        dirs = ", ".join(self.settings.workflow_dirs) or "no workflow dir"
        message = f"{ref!r} is neither a workflow (in {dirs}) nor a task"
        close_workflows = closest(ref, workflows, n=2)
        close_tasks = closest(ref, list(self.catalog.tasks), n=1)
        hints = [f"the workflow {name!r}" for name in close_workflows]
        hints += [f"the task {name!r}" for name in close_tasks]
        if hints:
            return f"{message}; did you mean {' or '.join(hints)}?"
        if workflows:
            shown = ", ".join(workflows[:10]) + (", ..." if len(workflows) > 10 else "")
            return f"{message} (workflows: {shown}; `nornflow show tasks` lists the tasks)"
        return f"{message} (no workflow file found; `nornflow show tasks` lists the tasks)"

    def prepare(self, model: WorkflowModel, file: str | None = None) -> PreparedWorkflow:
        """Validate every task (known function, template syntax), hook, filter and processor."""
        outputs = OutputPolicy.for_project(self.settings.base_dir, self.settings.output_dirs)
        return prepare(model, self.catalog, file, outputs)

    def validate(
        self,
        ref: str | Path | Mapping[str, Any] | WorkflowModel,
        *,
        allow_empty: bool = False,
        vars: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> PreparedWorkflow:
        """Every check a run makes before touching a device, including inventory and filters (a
        selection of no host is an error unless ``allow_empty``) and the static analysis of the
        templates and task arguments against ``vars`` (as ``run(vars=...)``) and the selected hosts;
        ``warn`` receives each warning (what may fail at run time)."""
        prepared = self.load_workflow(ref, vars=vars)
        inventory = filters_mod.select_hosts(
            self.inventory,
            ("inventory_filters", prepared.model.inventory_filters),
            ("--filter", filters),
            allow_empty=allow_empty,
        )
        self._analyze(prepared, self._static_vars(prepared, vars), inventory, warn)
        return prepared

    def _static_vars(self, prepared: PreparedWorkflow, cli_vars: Mapping[str, Any] | None) -> dict[str, Any]:
        return static_layers(
            environment=env_vars(self._environ),
            defaults=self.default_vars(),
            domain=self.domain_vars(prepared.file),
            workflow_vars=prepared.model.vars,
            cli_vars=cli_vars,
        )

    @staticmethod
    def _analyze(
        prepared: PreparedWorkflow,
        static: Mapping[str, Any],
        inventory: Inventory,
        warn: Callable[[str], None] | None,
    ) -> None:
        """The static analysis (nornflow.workflow.analysis): errors raise, warnings go to ``warn``."""
        from nornflow.workflow.analysis import analyze

        analysis = analyze(
            prepared, variables=static, hosts=list(inventory.hosts.values()), defaults=inventory.defaults
        )
        analysis.raise_errors()
        if warn is not None:
            for warning in analysis.warnings:
                warn(f"warning: {warning}")

    # -- running -----------------------------------------------------------------------------------

    def default_vars(self) -> dict[str, Any]:
        """The variables of the project's ``vars/defaults.yaml`` (empty when there is none)."""
        from nornflow.yamlio import load_yaml_file

        path = self.settings.resolve(self.settings.vars_dir) / "defaults.yaml"
        if not path.is_file():
            return {}
        data = load_yaml_file(path)
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise SettingsError("defaults.yaml must be a mapping of variable names to values", file=str(path))
        return dict(data)

    def domain_vars(self, file: str | Path | None) -> dict[str, Any]:
        """The variables of ``vars/<domain>/defaults.yaml`` for the workflow ``file`` (its first folder
        under its workflow dir), between the project defaults and the workflow's vars."""
        s = self.settings
        domain = domain_of(file, (s.resolve(d) for d in s.workflow_dirs))
        return {} if domain is None else vars_file(s.resolve(s.vars_dir) / domain / "defaults.yaml")

    def run(
        self,
        workflow: str | Path | Mapping[str, Any] | WorkflowModel | PreparedWorkflow,
        *,
        vars: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
        failure_strategy: FailureStrategy | str | None = None,
        dry_run: bool | None = None,
        workers: int | None = None,
        reporter: Reporter | None = None,
        processors: Sequence[Any] | None = None,
        executor: Executor | ExecutorSettings | Mapping[str, Any] | None = None,
        handle_sigint: bool = True,
        allow_empty: bool = False,
        serial: Any = None,
        tags: Sequence[str] | None = None,
        skip_tags: Sequence[str] | None = None,
        start_at_task: str | None = None,
        journal: bool | None = None,
        resume: str | None = None,
        force: bool = False,
        mask: JournalMasking | None = None,
    ) -> WorkflowResult:
        """Run ``workflow`` and return its structured result (never raises for per-host failures).

        Filters that select no host raise :class:`~nornflow.exceptions.NoHostsMatchedError` before
        anything runs, unless ``allow_empty`` (then the run does nothing and reports 0 hosts).
        ``processors`` (Nornir processor objects) replace the configured ones for this run;
        ``executor`` replaces the in-process one (it must run the hosts of the filtered inventory), or
        says where the hosts run as the settings' ``executor`` key does (``{"kind": "dask", ...}``).
        ``serial`` (sizes, as the workflow's ``serial:``) overrides the workflow's batches; ``tags``,
        ``skip_tags`` and ``start_at_task`` select the tasks that run (nornflow.run.selection).
        ``journal`` (default: the ``journal`` setting, for a project with a settings file) writes
        the run's journal in the project (``.nornflow/runs``), masked by ``mask``; ``resume``
        continues the journaled run of that id (``""``: the latest unfinished one) unless its
        workflow, inputs or inventory changed (``force`` accepts the changes). See docs/journal.md.
        """
        prepared = (
            workflow if isinstance(workflow, PreparedWorkflow) else self.load_workflow(workflow, vars=vars)
        )
        prepared, selection = select_tasks(prepared, tags, skip_tags, start_at_task)
        sizes = serial_sizes(serial if serial is not None else prepared.model.serial, prepared.file)
        wf = prepared.model
        strategy = FailureStrategy(failure_strategy or wf.failure_strategy or self.settings.failure_strategy)
        dry = (
            dry_run
            if dry_run is not None
            else (wf.dry_run if wf.dry_run is not None else self.settings.dry_run)
        )
        n_workers = workers if workers is not None else self.workers
        if n_workers < 1:
            raise SettingsError(f"workers must be >= 1, got {n_workers}", key="workers")

        inventory = filters_mod.select_hosts(
            self.inventory,
            ("inventory_filters", wf.inventory_filters),
            ("--filter", filters),
            allow_empty=allow_empty,
        )
        static = self._static_vars(prepared, vars)
        # a run does not start on what validate rejects; what only may fail is said, not blocked
        self._analyze(prepared, static, inventory, (reporter or Reporter()).notice)
        executor = self._executor_for(executor, prepared, vars, strategy, selection)
        if executor is None:
            if processors is None:
                classes = prepared.processors if prepared.processors is not None else self._processor_classes
                processors = make_processors(classes, self._processor_objects)
            executor = LocalExecutor(
                inventory,
                runner=self.settings.runner,
                runner_options=self.settings.runner_options,
                processors=processors,
                config=self._config,
                pause_gc=self.tune_gc,
            )
        execution_hooks.ABANDONED.limit = self.settings.max_abandoned_threads  # process-wide, as threads
        reporter = reporter or Reporter()
        observer = state = None
        if journal is None:  # a project of its own (a settings file): journaled unless it says not
            journal = self.settings.journal and self.settings.source is not None
        flow = prepared.tree is not None or bool(sizes) or wf.max_fail_percentage is not None
        # an executor may declare that its hosts' outcomes never reach the driver's journal (the
        # Dask executor's do: it journals each batch the shards return)
        unjournaled = not getattr(executor, "feeds_journal", True)
        what = _not_resumable(prepared, strategy, sizes, flow, unjournaled) if resume is not None else None
        if what is not None:
            raise WorkflowError(
                f"--resume: a run with {what} cannot be resumed yet; rerun it (see docs/journal.md)",
                file=prepared.file,
                key="--resume",
            )
        if journal and unjournaled:
            reporter.notice("note: this run's executor does not feed the run journal; it is not journaled")
            journal = False
        if resume is not None or journal:
            observer, state = start_journal(
                self.settings,
                prepared,
                hosts=list(inventory.hosts),
                cli_vars=vars,
                filters=filters,
                strategy=strategy.value,
                dry_run=bool(dry),
                workers=n_workers,
                mask=mask,
                resume=resume,
                force=force,
                notice=reporter.notice,
            )
        try:
            result = run_workflow(
                prepared,
                executor,
                hosts=list(inventory.hosts),
                static_vars=static,
                strategy=strategy,
                dry_run=dry,
                workers=n_workers,
                reporter=reporter,
                handle_sigint=handle_sigint,
                serial=sizes,
                max_fail_percentage=wf.max_fail_percentage,
                observer=observer,
                resume=state,
                selection=selection,
            )
        except NornFlowError:
            if observer is not None:
                discard_unstarted(observer)
            raise
        finally:
            if observer is not None:
                observer.close()
        if observer is not None:
            result.run_id = observer.run_id
            if observer.error:
                reporter.notice(f"warning: {observer.error}")
        return result

    def _executor_for(
        self,
        executor: Any,
        prepared: PreparedWorkflow,
        cli_vars: Mapping[str, Any] | None,
        strategy: Any,
        selection: dict[str, Any] | None = None,
    ) -> Executor | None:
        """The run's executor: the one given, a Dask one when the settings (or ``executor``) ask for
        it, else None (the in-process one)."""
        if executor is not None and not isinstance(executor, (Mapping, ExecutorSettings)):
            return executor
        if isinstance(executor, Mapping):
            try:
                executor = ExecutorSettings.model_validate(dict(executor))
            except ValueError as exc:
                raise SettingsError(f"invalid executor: {exc}", key="executor") from None
        spec = executor if executor is not None else self.settings.executor
        if spec.kind == "local":
            return None
        from nornflow.run.distributed import DaskExecutor

        return DaskExecutor(
            spec,
            settings=self.settings,
            workflow=prepared,
            cli_vars=dict(cli_vars or {}),
            fail_fast=strategy is FailureStrategy.FAIL_FAST,
            inventory_in_code=self._inventory_in_code,
            tune_gc=self.tune_gc,
            selection=selection,
        )


def _asks_for_nornir_logging(path: Path) -> bool:
    """Whether a Nornir config file turns Nornir's logging on itself (``logging: {enabled: true}``)."""
    from nornflow.yamlio import load_yaml_file

    try:
        data = load_yaml_file(path)
    except NornFlowError:
        return False  # InitNornir reports the broken file
    section = data.get("logging") if isinstance(data, Mapping) else None
    return isinstance(section, Mapping) and section.get("enabled") is True


def _not_resumable(
    prepared: PreparedWorkflow,
    strategy: FailureStrategy,
    sizes: Sequence[int | float] | None,
    flow: bool,
    unjournaled: bool,
) -> str | None:
    """What keeps a run of ``prepared`` from being resumed, in words, or None. A walk of blocks or
    batches resumes (journaled outcomes are filled in, the walk takes the same turns), but not
    under fail-fast (the stop a journaled failure caused is not replayed) nor with a ``run_once``
    task in batches (it runs once per batch)."""
    if unjournaled:
        return "an executor that does not feed the journal"
    if flow and strategy is FailureStrategy.FAIL_FAST:
        return "blocks or serial batches under fail-fast"
    if sizes and any(run_once_hook(task.model) for task in prepared.tasks):
        return "serial batches and a run_once task"
    return None
