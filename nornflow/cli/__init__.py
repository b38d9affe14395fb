"""The ``nornflow`` command line (typer + rich): commands, console output and the ``init`` template."""
