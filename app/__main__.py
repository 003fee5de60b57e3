"""`python -m app` serves; the service's features may add sub-commands for operators
(`python -m app --help`).

A bad configuration ends the process before anything starts, with one line on stderr for each
problem found (`configuration error: NAME: problem`), and exit status 78 (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.composition import Features, service_features
from app.config import ConfigError, Needs, Settings, load_settings
from app.identity import DESCRIPTION, NAME
from app.lifecycle import StartupError
from app.telemetry import get_logger, setup_logging

EX_CONFIG = 78


def _parser(features: Features) -> argparse.ArgumentParser:
    # argparse %-formats the description (%(prog)s): a literal % must be written %%.
    description = f"{NAME}: {DESCRIPTION}".replace("%", "%%")
    parser = argparse.ArgumentParser(prog="python -m app", description=description)
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the HTTP server (the default)")
    if features.cli is not None:
        features.cli.add_commands(commands, serve)
    return parser


def _config_errors(exc: ConfigError) -> int:
    for error in exc.errors:
        print(f"configuration error: {error}", file=sys.stderr)
    return EX_CONFIG


def _settings(needs: Needs) -> Settings:
    try:
        return load_settings(needs=needs)
    except ConfigError as exc:
        raise SystemExit(_config_errors(exc)) from None


def main(argv: list[str] | None = None) -> int:
    features = service_features()
    args = _parser(features).parse_args(argv)
    settings = _settings(features.settings_needs)
    if args.command in (None, "serve"):
        from app.web.server import serve

        setup_logging(settings.log_level)
        for warning in settings.warnings:
            get_logger("app").warning(warning)
        try:
            database = (None if features.cli is None
                        else features.cli.serve_database(args, settings))
        except ConfigError as exc:
            return _config_errors(exc)
        try:
            asyncio.run(serve(settings, features=features, database=database))
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    assert features.cli is not None  # argparse knows only the features' sub-commands
    # Operator commands keep stdout for their results; logs (warnings) go to stderr.
    setup_logging(settings.log_level, stream=sys.stderr)
    return asyncio.run(features.cli.run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
