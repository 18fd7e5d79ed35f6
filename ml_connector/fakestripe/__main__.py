"""``python -m ml_connector.fakestripe --host 127.0.0.1 --port 12111``: serve the fake Stripe API."""

from __future__ import annotations

import argparse

import uvicorn

from ml_connector.fakestripe.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml_connector.fakestripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
