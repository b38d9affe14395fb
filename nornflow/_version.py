"""The distribution's name and version, in one place (setuptools reads ``__version__`` statically)."""

#: The name nornflow is published and installed under. It is not "nornflow": on PyPI that is another
#: project, which installs a ``nornflow`` package and command too (so the two cannot share a venv).
DISTRIBUTION = "nornir-yamlflow"
__version__ = "0.1.0"
