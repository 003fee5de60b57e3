"""`python -m app` serves; sub-commands are for operators (`python -m app --help`).

A bad configuration ends the process before anything starts, with one line on stderr for each
problem found (`configuration error: NAME: problem`), and exit status 78 (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app import cli
from app.config import ConfigError, Settings, load_settings
from app.identity import DESCRIPTION, NAME
from app.telemetry import get_logger, setup_logging

EX_CONFIG = 78


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=f"{NAME}: {DESCRIPTION}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the HTTP server (the default)")
    serve.add_argument("--from-backup", type=Path, metavar="DIR",
                       help="load a backup into the memory store first (local debugging)")
    cli.add_commands(commands)
    return parser


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        for error in exc.errors:
            print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings()
    if args.command in (None, "serve"):
        from app.web.server import serve

        setup_logging(settings.log_level)
        for warning in settings.warnings:
            get_logger("app").warning(warning)
        from_backup = getattr(args, "from_backup", None)
        if from_backup is not None and settings.mongo_uri is not None:
            print("configuration error: MONGO_URI: --from-backup loads into the embedded "
                  "memory store; unset MONGO_URI", file=sys.stderr)
            return EX_CONFIG
        from app.store.backup import BackupError

        try:
            asyncio.run(serve(settings, from_backup=from_backup))
        except BackupError as exc:
            print(f"error: --from-backup: {exc}", file=sys.stderr)
            return 1
        return 0
    # Operator commands keep stdout for their results; logs (warnings) go to stderr.
    setup_logging(settings.log_level, stream=sys.stderr)
    return asyncio.run(cli.run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
