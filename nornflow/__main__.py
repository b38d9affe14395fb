"""Entry point of the ``nornflow`` command: answers ``--version`` before importing anything heavy."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; ``nornflow --version`` prints the distribution, version, hot path, Python and Nornir."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from nornflow._about import version_line

        sys.stdout.write(version_line() + "\n")
        raise SystemExit(0)
    from nornflow.cli.app import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
