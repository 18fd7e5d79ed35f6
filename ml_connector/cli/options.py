"""Options and argument types several `ml-connector` commands share, written once so they read alike.

Each type raises `argparse.ArgumentTypeError`, which argparse turns into a usage error (exit 2) naming the
option; the option helpers keep one spelling of `--company` and `--timeout` across commands.
"""

from __future__ import annotations

import argparse
from datetime import date


def minutes(value: str) -> float:
    """A positive number of minutes (fractions allowed)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0 minutes")
    return number


def positive(value: str) -> int:
    """A whole number, at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def day(value: str) -> date:
    """A calendar day written YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-01-31") from exc


def add_company(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002 - argparse's own keyword
    """`--company ID`: which company file; what leaving it out means is the command's to say."""
    parser.add_argument("--company", metavar="ID", help=help)


def add_timeout(parser: argparse.ArgumentParser, *, default: float, help: str) -> None:  # noqa: A002
    """`--timeout MINUTES`: how long to wait for a workflow before giving up (the workflow goes on)."""
    parser.add_argument("--timeout", type=minutes, default=default, metavar="MINUTES", help=help)


def add_day(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    help: str,  # noqa: A002 - argparse's own keyword
    required: bool = False,
    dest: str | None = None,
) -> None:
    """A `YYYY-MM-DD` option (`--since`, `--until`, `--from`, `--to`)."""
    names = {"dest": dest} if dest is not None else {}
    parser.add_argument(flag, type=day, required=required, metavar="YYYY-MM-DD", help=help, **names)
