from tests.telemetry.conftest import otlp, sentry_receiver

__all__ = ["otlp", "sentry_receiver"]
