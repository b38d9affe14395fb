"""``RunnableModel``: the base of every model that runs on hosts and carries hooks (tasks).

``create()`` discovers hook keys in the input (any key registered in ``HOOK_REGISTRY``, or an explicit
``hooks:`` mapping), freezes their values and moves them into ``hooks``. Hook instances come from the
process-wide flyweight cache (``_HOOK_INSTANCE_CACHE``, guarded on a miss by ``_HOOK_CACHE_LOCK``),
which is the hot path's :class:`~nornflow._hotpath.HookInstanceCache`. The cache holds instances
weakly; each model holds its own, so an instance lives exactly as long as some model uses it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, MutableMapping
from typing import Any, ClassVar, Self, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from nornflow import _hotpath
from nornflow.exceptions import HookValidationError, NornFlowError, WorkflowError
from nornflow.freeze import freeze
from nornflow.hooks.base import Hook, PostRunHook, PreRunHook, TaskModelLike, TaskSetup
from nornflow.hooks.plan import build_dispatcher, build_setup
from nornflow.hooks.registry import HOOK_REGISTRY

__all__ = ["_HOOK_CACHE_LOCK", "_HOOK_INSTANCE_CACHE", "RunnableModel"]

#: The flyweight cache's storage: ``(hook_class, type(value), value) -> instance``, a mapping holding
#: its values weakly. The value's type is part of the key so that ``true`` and ``1`` (equal in Python)
#: never share an instance.
_HOOK_INSTANCE_CACHE: MutableMapping[tuple[type, type, Any], Hook] = _hotpath.HOOK_CACHE.data
#: Taken only on a cache miss (double-checked locking); hits are lock-free.
_HOOK_CACHE_LOCK = _hotpath.HOOK_CACHE.lock


class RunnableModel(BaseModel):
    """A model that runs per host and carries hooks; subclasses add their own fields."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    #: Hook name -> frozen hook value, in the order written.
    hooks: dict[str, Any] = Field(default_factory=dict)

    #: What ``create()`` calls this kind of model in error messages.
    kind: ClassVar[str] = "task"

    _pre_hooks: list[PreRunHook] | None = PrivateAttr(default=None)
    _post_hooks: list[PostRunHook] | None = PrivateAttr(default=None)
    _hooks_validated: bool = PrivateAttr(default=False)
    _dispatcher: _hotpath.HookDispatcher | None = PrivateAttr(default=None)
    _setup: TaskSetup | None = PrivateAttr(default=None)
    #: the hook instances this model uses, by class: what keeps them alive in the (weak) cache
    _held: dict[type, Hook] = PrivateAttr(default_factory=dict)
    #: True while a run uses this model (its task runs are keyed on it: one run at a time)
    _in_run: bool = PrivateAttr(default=False)
    _file: str | None = PrivateAttr(default=None)
    _line: int | None = PrivateAttr(default=None)
    #: for a model from a blueprint: how the blueprint was included (``NornFlowError.origin``)
    _origin: str | None = PrivateAttr(default=None)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, dict_args: Mapping[str, Any], *, file: str | None = None, line: int | None = None
    ) -> Self:
        """Build a model from a YAML/dict mapping, moving registered hook keys into ``hooks``.

        Unknown keys are an error that lists the valid keys and the closest hook name; hook values
        are frozen (read-only, hashable) so they can key the instance cache.
        """
        if not isinstance(dict_args, Mapping):
            raise WorkflowError(
                f"a {cls.kind} must be a mapping, got {type(dict_args).__name__}", file=file, line=line
            )
        data = dict(dict_args)
        label = data.get("name") if isinstance(data.get("name"), str) else None
        model_fields = cls.model_fields
        hooks_config: dict[str, Any] = {}

        explicit = data.pop("hooks", None)
        if explicit is not None:
            if not isinstance(explicit, Mapping):
                raise WorkflowError(
                    f"'hooks' must be a mapping of hook name to value, got {type(explicit).__name__}",
                    file=file,
                    line=line,
                    task=label,
                    key="hooks",
                )
            for key, value in explicit.items():
                if key not in HOOK_REGISTRY:
                    raise cls._unknown_key(key, label, file, line, in_hooks=True)
                hooks_config[key] = value

        for key in list(data):
            if key in model_fields:
                continue
            if key in HOOK_REGISTRY:
                if key in hooks_config:
                    raise WorkflowError(
                        f"hook {key!r} is given twice (as a key and under 'hooks')",
                        file=file,
                        line=line,
                        task=label,
                        hook=key,
                    )
                hooks_config[key] = data.pop(key)
            else:
                raise cls._unknown_key(key, label, file, _key_line(dict_args, key, line))

        frozen: dict[str, Any] = {}
        for key, value in hooks_config.items():
            try:
                frozen[key] = freeze(value)
            except TypeError as exc:
                raise HookValidationError(
                    f"invalid value: {exc}", file=file, line=line, task=label, hook=key
                ) from None
        try:
            model = cls(**data, hooks=frozen)
        except ValidationError as exc:
            raise _validation_error(exc, file=file, line=line, task=label) from None
        model._file = file
        model._line = line
        return model

    @classmethod
    def _unknown_key(
        cls, key: Any, label: str | None, file: str | None, line: int | None, in_hooks: bool = False
    ) -> WorkflowError:
        fields = sorted(name for name in cls.model_fields if name != "hooks")
        hooks = sorted(HOOK_REGISTRY)
        candidates = hooks if in_hooks else fields + hooks
        close = difflib.get_close_matches(str(key), candidates, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        where = "hook" if in_hooks else "key"
        valid = (
            f"registered hooks: {', '.join(hooks) or '(none)'}"
            if in_hooks
            else f"valid keys: {', '.join([*fields, 'hooks'])}; hooks: {', '.join(hooks) or '(none)'}"
        )
        return WorkflowError(
            f"unknown {where} {key!r} ({valid}).{hint}", file=file, line=line, task=label, key=str(key)
        )

    # -- hooks -------------------------------------------------------------------------------------

    def _get_or_create_hook_instance(self, hook_class: type[Hook], hook_value: Any) -> Hook:
        """The shared instance for ``(hook_class, hook_value)`` from the flyweight cache (held by this
        model from then on, so it stays the shared one while the model lives)."""
        held = self._held.get(hook_class)
        if held is not None and getattr(held, "value", None) is hook_value:
            return held
        try:
            instance = _hotpath.HOOK_CACHE.get_or_create(hook_class, hook_value)
            self._held[hook_class] = instance
            return instance
        except NornFlowError:
            raise
        except Exception as exc:
            raise HookValidationError(
                f"cannot create hook from value {hook_value!r}: {exc}",
                file=self._file,
                line=self._line,
                task=self.label,
                hook=hook_class.hook_name,
                origin=self._origin,
            ) from exc

    def _load_hooks_by_type(self, hook_base_class: type[Hook]) -> list[Any]:
        """The hook instances of this model that subclass ``hook_base_class``, in declared order."""
        hooks = []
        for hook_name, hook_value in self.hooks.items():
            hook_class = HOOK_REGISTRY.get(hook_name)
            if hook_class is not None and issubclass(hook_class, hook_base_class):
                hooks.append(self._get_or_create_hook_instance(hook_class, hook_value))
        hooks.sort(key=lambda hook: getattr(hook, "order", 100))  # stable: written order within a rank
        return hooks

    def get_pre_hooks(self) -> list[PreRunHook]:
        """This model's pre-run hooks (computed once)."""
        if self._pre_hooks is None:
            self._pre_hooks = self._load_hooks_by_type(PreRunHook)
        return self._pre_hooks

    def get_post_hooks(self) -> list[PostRunHook]:
        """This model's post-run hooks (computed once)."""
        if self._post_hooks is None:
            self._post_hooks = self._load_hooks_by_type(PostRunHook)
        return self._post_hooks

    def _validate_all_hooks(self) -> None:
        """Validate every hook's value and task compatibility once; report all problems together."""
        if self._hooks_validated:
            return
        problems: list[HookValidationError] = []
        for hook_name, hook_value in self.hooks.items():
            hook_class = HOOK_REGISTRY.get(hook_name)
            if hook_class is None:
                problems.append(self._problem(hook_name, "is not a registered hook"))
                continue
            try:
                hook = self._get_or_create_hook_instance(hook_class, hook_value)
            except NornFlowError as exc:
                problems.append(self._problem(hook_name, exc.message))
                continue
            problem = _check_hook(hook, self)
            if problem:
                problems.append(self._problem(hook_name, problem))
        if problems:
            if len(problems) == 1:
                raise problems[0]
            error = HookValidationError(
                "; ".join(f"hook {p.hook!r}: {p.message}" for p in problems),
                file=self._file,
                line=self._line,
                task=self.label,
                origin=self._origin,
            )
            error.problems = problems  # type: ignore[attr-defined]
            raise error
        self._hooks_validated = True

    def _problem(self, hook_name: str, message: str) -> HookValidationError:
        return HookValidationError(
            message, file=self._file, line=self._line, task=self.label, hook=hook_name, origin=self._origin
        )

    @property
    def dispatcher(self) -> _hotpath.HookDispatcher:
        """The hot-path dispatcher for this model's per-host hooks (built once, after validation)."""
        if self._dispatcher is None:
            self._validate_all_hooks()
            self._dispatcher = build_dispatcher(self.get_pre_hooks(), self.get_post_hooks(), _hotpath.TRACKER)
        return self._dispatcher

    @property
    def setup(self) -> TaskSetup:
        """What this model's hooks configured once (task options, execution wrappers), after validation."""
        if self._setup is None:
            self._validate_all_hooks()
            hooks = [*self.get_pre_hooks(), *self.get_post_hooks()]
            self._setup = build_setup(cast("TaskModelLike", self), hooks)  # task models have name, args
        return self._setup

    @property
    def label(self) -> str | None:
        """How error messages name this model (its ``name`` field when it has one)."""
        name = getattr(self, "name", None)
        return name if isinstance(name, str) else None

    @property
    def source(self) -> tuple[str | None, int | None]:
        """``(file, line)`` where this model was defined, when known."""
        return (self._file, self._line)

    @property
    def origin(self) -> str | None:
        """For a model from a blueprint, how the blueprint was included; else None."""
        return self._origin


def _check_hook(hook: Hook, model: Any) -> str | None:
    """What is wrong with ``hook`` on ``model`` (None when nothing): its value, its compatibility, or
    a validation method that broke its own contract (raised something unexpected, returned junk)."""
    method = "validate_value"
    try:
        hook.validate_value()
        method = "validate_task_compatibility"
        answer = hook.validate_task_compatibility(model)
    except NornFlowError as exc:
        return exc.message
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    except Exception as exc:  # a bug in the hook: still a located validation error, not a crash
        return f"{type(hook).__name__}.{method}() raised {type(exc).__name__}: {exc}"
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool)):
        return f"{type(hook).__name__}.validate_task_compatibility() must return (bool, str), got {answer!r}"
    ok, reason = answer
    return None if ok else (str(reason) if reason else "is not compatible with this task")


def _key_line(mapping: Any, key: Any, default: int | None) -> int | None:
    """The line of ``key`` in a mapping loaded with positions (nornflow.yamlio), else ``default``."""
    locate = getattr(mapping, "key_position", None)
    position = locate(key) if locate is not None else None
    return position[0] if position else default


def _validation_error(exc: ValidationError, **where: Any) -> WorkflowError:
    """Turn a pydantic error into one readable WorkflowError naming the first bad key."""
    parts = []
    first_key = None
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        first_key = first_key or loc or None
        parts.append(f"{loc or 'value'}: {err.get('msg')}")
    return WorkflowError("; ".join(parts), key=first_key, **where)
