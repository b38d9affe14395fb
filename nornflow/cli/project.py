"""``nornflow init``: create a project that runs at once, offline, on a small bundled inventory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCHEMA_FILES", "TEMPLATE", "create_project", "write_schemas"]

TEMPLATE: dict[str, str] = {
    "nornflow.yaml": """\
# nornflow project settings. Every key is optional; these are the defaults made explicit.
inventory:
  host_file: inventory/hosts.yaml
  group_file: inventory/groups.yaml
  defaults_file: inventory/defaults.yaml
task_dirs: [tasks]
workflow_dirs: [workflows]
hook_dirs: [hooks]
j2_filter_dirs: [j2_filters]   # Jinja2 filters: public functions of these .py files
filter_dirs: [filters]         # inventory filters: functions taking `host` first
vars_dir: vars
failure_strategy: skip-failed   # or fail-fast, run-all
dry_run: false
runner: work_queue   # or threaded (every worker at once), serial
workers: 20
""",
    "inventory/hosts.yaml": """\
r1:
  hostname: 192.0.2.11
  platform: cisco_ios
  groups: [ios, ams]
  data:
    role: core
    mgmt_vlan: 10
r2:
  hostname: 192.0.2.12
  platform: cisco_ios
  groups: [ios, fra]
  data:
    role: edge
    mgmt_vlan: 20
sw1:
  hostname: 192.0.2.21
  platform: arista_eos
  groups: [eos, ams]
  data:
    role: access
    mgmt_vlan: 10
fw1:
  hostname: 192.0.2.31
  platform: juniper_junos
  groups: [junos, fra]
  data:
    role: firewall
    mgmt_vlan: 30
""",
    "inventory/groups.yaml": """\
ios:
  data:
    vendor: cisco
eos:
  data:
    vendor: arista
junos:
  data:
    vendor: juniper
ams:
  data:
    site: ams
    ntp_zone: europe
fra:
  data:
    site: fra
    ntp_zone: europe
""",
    "inventory/defaults.yaml": """\
username: admin
password: change-me
data:
  domain: example.net
""",
    "vars/defaults.yaml": """\
# Lowest-precedence variables (after NORNFLOW_VAR_* environment entries).
ntp_servers:
  - 192.0.2.123
  - 198.51.100.123
banner: Managed by nornflow
""",
    "tasks/network.py": '''\
"""Project tasks: any public function taking a Nornir Task and returning a Result is a task."""

from nornir.core.task import Result, Task

from nornflow.workflow.checks import check_mode_safe


@check_mode_safe  # changes nothing: it runs in check mode (--check) too
def describe_host(task: Task, greeting: str = "hello") -> Result:
    """Collect facts about the host from the inventory (no device contact)."""
    host = task.host
    facts = {
        "name": host.name,
        "platform": host.platform,
        "site": host.get("site"),
        "role": host.get("role"),
        "vendor": host.get("vendor"),
        "greeting": greeting,
    }
    return Result(host=host, result=facts)


@check_mode_safe
def build_config(task: Task, ntp_servers: list, banner: str, vlan: int) -> Result:
    """Render a small configuration for the host from variables."""
    lines = [f"hostname {task.host.name}", f"banner motd ^{banner}^"]
    lines += [f"ntp server {server}" for server in ntp_servers]
    lines += [f"interface Vlan{vlan}", " description management"]
    return Result(host=task.host, result="\\n".join(lines) + "\\n")
''',
    "workflows/hello.yaml": """\
workflow:
  name: hello
  description: Gather facts, render a config per host, write it to output/, and report.
  vars:
    report_dir: output
  tasks:
    - name: describe_host
      args:
        greeting: "Hello from {{ host.site }}"
      set_to: facts

    - name: build_config
      args:
        ntp_servers: "{{ ntp_servers }}"
        banner: "Managed by nornflow ({{ facts.role }}, {{ host.site }})"
        vlan: "{{ host.mgmt_vlan }}"
      set_to: config
      output: false

    - name: write_file
      args:
        filename: "{{ report_dir }}/{{ host.name }}.cfg"
        content: "{{ config }}"

    - name: echo
      args:
        msg: "{{ facts.role }} at {{ facts.site }}: {{ config.splitlines() | length }} config lines"
""",
    ".vscode/settings.json": """\
{
  "yaml.schemas": {
    "./.nornflow/workflow.schema.json": ["workflows/**/*.yaml", "workflows/**/*.yml"],
    "./.nornflow/settings.schema.json": ["nornflow.yaml"]
  }
}
""",
    "hooks/README.md": """\
Put Python modules here that define hooks with `@register_hook`; nornflow imports them at start.
See docs/hooks.md in the nornflow repository for the hook API.
""",
}


def create_project(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the template project into ``directory``; refuse to overwrite files unless ``force``."""
    root = Path(directory)
    targets = [root / name for name in TEMPLATE]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        from nornflow.exceptions import SettingsError

        raise SettingsError(
            f"{len(existing)} file(s) already exist (e.g. {existing[0]}); use --force to overwrite",
            file=str(existing[0]),
        )
    written = []
    for path, (_name, content) in zip(targets, TEMPLATE.items(), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    written += write_schemas(root)
    return written


#: Where ``nornflow init`` puts the JSON Schemas that .vscode/settings.json points yaml-language-server at.
SCHEMA_FILES = {"workflow": ".nornflow/workflow.schema.json", "settings": ".nornflow/settings.schema.json"}


def write_schemas(root: Path) -> list[Path]:
    """Write the workflow and settings JSON Schemas into ``root/.nornflow/`` (``nornflow schema
    --output`` rewrites them once the project has hooks of its own)."""
    import json

    from nornflow.workflow.schema import settings_schema, workflow_schema

    out = []
    for kind, make in (("workflow", workflow_schema), ("settings", settings_schema)):
        path = root / SCHEMA_FILES[kind]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(make(), indent=2) + "\n", encoding="utf-8")
        out.append(path)
    return out
