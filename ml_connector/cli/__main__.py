"""`python -m ml_connector.cli`: the console script without the installed wrapper (tests and benches use it)."""

from ml_connector.cli.main import run

run()
