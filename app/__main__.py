"""`python -m app` serves; sub-commands are for operators.

A bad configuration ends the process before anything starts, with one line on stderr naming the
variable, and exit status 78 (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import ConfigError, Settings, load_settings
from app.telemetry import get_logger, setup_logging

EX_CONFIG = 78


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP server (the default)")
    return parser


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings()
    setup_logging(settings.log_level)
    log = get_logger("app")
    for warning in settings.warnings:
        log.warning(warning)

    if args.command in (None, "serve"):
        from app.web.server import serve

        asyncio.run(serve(settings))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
