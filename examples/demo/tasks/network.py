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
    return Result(host=task.host, result="\n".join(lines) + "\n")
