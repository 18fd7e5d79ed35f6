"""Every `ml-connector` command, and the only layer that may import the gateway, the worker or the workflows.

The library below (`ml_connector.*`, `activities`, `workflows`, `gateway`) never imports from here, so a
command can wire the whole system together without the system knowing about commands (import-linter enforces
it: see `[tool.importlinter]` in pyproject.toml). `run` is the console script's entry point.
"""

from ml_connector.cli.main import run

__all__ = ["run"]
