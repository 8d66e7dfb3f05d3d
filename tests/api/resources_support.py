"""Helpers of the resource API tests: requests from 127.0.0.1 (Django's test client), pages walked by their
links, the one error shape."""

from urllib.parse import urlencode

from rest_framework.test import APIClient

API = "/api/v1"
# The repository's Claude Code corpus (tests/conftest.py `corpus`): one session of each kind.
FAILURES = "8c01be02-d679-455c-bd81-be73213afb61"  # 03-failures: five tool calls, four failed
FORK_CHILD = "1866ec00-1844-42fe-b156-a87aa606088c"  # 19-fork-session, forked from FORK_PARENT
FORK_PARENT = "2910f535-51be-4d56-b921-f3cc433ece4e"
SUBAGENT = "0112e194-50b9-44cf-811d-a68cd8ea7af6"  # 04-subagent
API_ERROR = "a4acdedd-5732-44dd-a851-567450fd79e4"  # 07-api-error: no usage at all


def url(path: str, **params: object) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{API}/{path}" + (f"?{query}" if query else "")


def ok(client: APIClient, path: str, **params: object) -> dict:
    response = client.get(url(path, **params))
    assert response.status_code == 200, (path, params, response.content[:500])
    assert response["Content-Type"] == "application/json"
    return response.json()


def error(client: APIClient, path: str, expect: int = 400, /, **params: object) -> dict:
    """The error body of a request that must fail with status `expect`, checked for the one error shape."""
    response = client.get(url(path, **params))
    assert response.status_code == expect, (
        path,
        {k: str(v)[:80] for k, v in params.items()},
        response.content[:300],
    )
    body = response.json()
    assert body["status"] == expect and body["error"] and body["message"], body
    assert "Traceback" not in body["message"]
    return body


def walk(client: APIClient, path: str, *, page_size: int, **params: object) -> list[dict]:
    """Every row of a list, following `next` links; checks each page's size and the links' shape."""
    page = ok(client, path, page_size=page_size, **params)
    assert page["previous"] is None
    rows = list(page["results"])
    pages = 1
    while page["next"]:
        assert len(page["results"]) == page_size
        page = client.get(page["next"]).json()
        assert page["previous"] is not None
        rows.extend(page["results"])
        pages += 1
        assert pages < 10_000, "the links go round in a circle"
    assert len(page["results"]) <= page_size
    return rows


def walk_back(client: APIClient, page: dict) -> list[dict]:
    """Every row before and on `page`, following `previous` links from it, in list order."""
    rows = list(page["results"])
    while page["previous"]:
        page = client.get(page["previous"]).json()
        rows[:0] = page["results"]
    return rows


def last_page(client: APIClient, path: str, *, page_size: int, **params: object) -> dict:
    page = ok(client, path, page_size=page_size, **params)
    while page["next"]:
        page = client.get(page["next"]).json()
    return page
