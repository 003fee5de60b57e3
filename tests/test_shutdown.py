"""SIGTERM drains: /ready turns 503, the in-flight request finishes, the process exits 0."""

import signal
import threading
import time
import urllib.error
import urllib.request

from app.composition import service_features
from tests.helpers import call
from tests.service import ServiceProcess


def test_sigterm_drains_in_flight_requests():
    service = ServiceProcess(APP_ENV="test", SHUTDOWN_GRACE_SECONDS="1.5")
    with service:
        slow: dict[str, object] = {}

        def slow_request() -> None:
            slow["status"], slow["body"] = call(service.url + "/__test__/slow?seconds=3")

        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.5)  # the slow request is in flight
        service.signal(signal.SIGTERM)
        time.sleep(0.3)

        # During the grace period the instance still answers, but says it is not ready.
        status, body = call(service.url + "/ready")
        assert status == 503
        assert body["data"]["checks"]["draining"] == "shutting down"
        assert call(service.url + "/health")[0] == 200

        worker.join(timeout=15)
        assert slow.get("status") == 200, slow
        assert service.wait(timeout=15) == 0

        # After the drain nobody is listening any more.
        try:
            urllib.request.urlopen(service.url + "/health", timeout=1)
            raise AssertionError("the server still accepts connections")
        except urllib.error.URLError:
            pass

    messages = [line["msg"] for line in service.log_lines()]
    for event in ("app.started", "app.stopping", "app.stopped"):
        assert event in messages
    assert messages.index("app.stopping") < messages.index("app.stopped")
    slow_line = next(
        line for line in service.log_lines()
        if line["msg"] == "request.completed" and line["route"] == "GET /__test__/slow"
    )
    assert slow_line["statusCode"] == 200 and slow_line["durationMs"] >= 3000


def test_stdout_is_only_json_lines():
    service = ServiceProcess(APP_ENV="development", JWT_ACCESS_SECRET="", JWT_REFRESH_SECRET="")
    with service:
        call(service.url + "/health")
    lines = service.log_lines()  # raises if any line is not JSON
    warnings = [line for line in lines if line["level"] == "warn"]
    # A newcomer's first run: one line about the memory store, and one about throwaway secrets
    # when the service's features need any.
    assert any("memory store" in line["msg"] for line in warnings)
    assert len(warnings) == 1 + service_features().settings_needs.jwt_secrets
