"""Schema-driven fuzzing (schemathesis) of every operation the OpenAPI schema lists, against the running
ASGI server (runweb: uvicorn in a subprocess) over the repository's real Claude Code corpus, stored and
derived by the real pipeline.

Valid and invalid requests (schemathesis's positive and negative modes, and its coverage phase: values at
the edges of each parameter) must never answer 5xx, and every answer must be one the schema describes: a
documented status, content type and body (errors in the one error shape, api/v1/schema.py).

Bounded so the suite stays quick: a fixed number of examples per operation, no shrinking, a fixed seed
and deterministic generation (the same requests every run), nothing written outside the test's folder.

schemathesis runs as its CLI (`st run`) in a subprocess: its pytest plugin does not work with pytest 9
(it reads a node attribute pytest 9 no longer has), and the CLI reports every failing request with a
curl line to replay it."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.web import Web, server_env, web_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]

ST = Path(sys.executable).parent / "st"
EXAMPLES_PER_OPERATION = 25
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture
def served(transactional_db, corpus, redis_server: str, tmp_path: Path) -> Iterator[Web]:
    """runweb over the corpus (committed, so the server's own connection sees it)."""
    with web_server(log=tmp_path / "web.log", env=server_env(redis_server)) as web:
        yield web


def schemathesis_run(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    return subprocess.run(
        [
            str(ST), "run", f"{url}/api/v1/schema/?format=json",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--mode", "all",
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--generation-deterministic",
            "--no-shrink",
            "--workers", "1",  # two cores, shared with the server
            "--request-timeout", "30",
            "--suppress-health-check", "all",
            "--no-color",
            *args,
        ],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def test_no_input_gets_a_5xx_or_an_answer_the_schema_does_not_describe(served: Web, tmp_path: Path) -> None:
    run = schemathesis_run(served.url, tmp_path)
    report = f"{run.stdout}{run.stderr}\n--- the server's log (tracebacks of its 5xx) ---\n{served.log_text()[-8000:]}"
    assert run.returncode == 0, report
    assert "No operations" not in report and " 0 selected" not in report, report
    assert "Traceback" not in served.log_text(), served.log_text()
