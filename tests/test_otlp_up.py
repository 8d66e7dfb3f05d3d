"""`blueplane up` runs the OTLP receiver: an export sent to the endpoint the banner prints is stored by
the real pipeline, status and doctor show the receiver, and a port another program holds is reported
in one line, without a restart loop, while everything else runs."""

import json
import socket
import time
import urllib.request

import pytest

from telemetry.capture.otlp_decode import protobuf_from_json
from tests.support.otel import otlp_requests
from tests.support.system import install_home

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def post(endpoint: str, path: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(
        endpoint + path, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_up_receives_otlp_into_the_store_and_status_and_doctor_show_it():
    with install_home("bp-otlp-") as inst:
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stderr + inst.log_tail()
        endpoint = f"http://127.0.0.1:{inst.otlp_port}"
        assert f"otlp      {endpoint}" in up.stdout
        inst.wait_for(lambda: inst.log_tail().count("otlp: receiving on"), what="the receiver listening")
        traces = [r for r in otlp_requests() if r["path"] == "/v1/traces"][:3]
        for request in traces:
            assert post(endpoint, "/v1/traces", protobuf_from_json(request["body"], signal="traces"),
                        "application/x-protobuf") == 200  # fmt: skip
        spans = sum(
            len(s["spans"]) for r in traces for b in r["body"]["resourceSpans"] for s in b["scopeSpans"]
        )
        inst.wait_for(
            lambda: (rows := inst.query("SELECT count(*) FROM claude_raw_traces")) and rows[0][0] == spans,
            what=f"{spans} spans stored",
        )
        status = json.loads(inst.run("status", "--json").stdout)
        assert status["otlp"]["endpoint"] == endpoint
        assert status["otlp"]["counters"]["requests"] == {"traces": 3}
        assert status["otlp"]["counters"]["records"] == {"traces": spans}
        assert f"otlp        {endpoint}: 3 requests, {spans} records" in inst.run("status").stdout
        checks = {c["name"]: c for c in json.loads(inst.run("doctor", "--json").stdout)["checks"]}
        assert checks["otlp"]["status"] == "ok", checks["otlp"]


def test_a_port_another_program_holds_is_said_once_and_the_rest_runs():
    with install_home("bp-otlp-") as inst, socket.socket() as taken:
        taken.bind(("127.0.0.1", inst.otlp_port))
        taken.listen(1)
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stderr + inst.log_tail()
        state = inst.wait_for(
            lambda: (s := inst.state()) and s["processes"].get("otlp", {}).get("given_up") and s,
            what="the receiver given up",
        )
        time.sleep(3)  # a restart loop would have restarted it by now (backoff starts at 1 s)
        state = inst.state()
        assert state["processes"]["otlp"]["restarts"] == 0 and state["processes"]["otlp"]["pid"] is None
        log = (inst.home / "logs" / "blueplane.log").read_text()
        assert log.count(f"127.0.0.1:{inst.otlp_port} is taken") == 1, log
        assert all(state["processes"][name]["pid"] for name in ("fastpath", "worker", "web"))
        assert "otlp      not running: it cannot run as configured" in inst.run("status").stdout
        checks = {c["name"]: c for c in json.loads(inst.run("doctor", "--json").stdout)["checks"]}
        assert checks["otlp"]["status"] == "warn" and "BLUEPLANE_OTLP_PORT" in checks["otlp"]["fix"]
