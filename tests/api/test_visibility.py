"""Who sees what (docs/team.md, "People, machines and tokens"): over the repository's Claude Code corpus
(the real pipeline), split between two people by project, a person's token sees only their own sessions
everywhere (lists, details, reports, export, dashboard pages; another person's session is a 404, install-
wide figures a 403, the live feed refused), a team admin's and the owner's see both, and a revoked token
is refused at its next request. Every GET route of the API's URLconf is walked with alice's token and
must not name one of bob's sessions or projects."""

import asyncio

import orjson
import pytest
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver

from api import tokens
from api.live.routing import websocket_application
from telemetry import scope
from telemetry.models import (
    ActivityHour,
    ClaudeRawTrace,
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)

pytestmark = pytest.mark.django_db

NOWHERE = "00000000-0000-4000-8000-000000000000"  # no session has this id
REMOTE = "192.0.2.10"  # TEST-NET-1: never this machine, so every request needs its token


class Team:
    """The corpus split between alice and bob (by project, so that the hourly rollups split too), and a
    token each for alice, bob, a team admin and the install's owner."""

    def __init__(self) -> None:
        projects = sorted(
            Session.objects.exclude(project=None).values_list("project_id", flat=True).distinct()
        )
        alice_projects = projects[::2]
        Session.objects.update(user="bob")
        Session.objects.filter(project_id__in=alice_projects).update(user="alice")
        for rollup in (UsageHour, ToolHour, ActivityHour):
            rollup.objects.update(user="bob")
            rollup.objects.filter(project_id__in=alice_projects).update(user="alice")
        self.alice_sessions = set(Session.objects.filter(user="alice").values_list("session_id", flat=True))
        self.bob_sessions = set(Session.objects.filter(user="bob").values_list("session_id", flat=True))
        self.bob_projects = set(
            Project.objects.filter(sessions__user="bob")
            .exclude(id__in=alice_projects)
            .values_list("key", flat=True)
        )
        assert len(self.alice_sessions) >= 2 and len(self.bob_sessions) >= 2 and self.bob_projects
        self.alice = tokens.token_create(name="alice-laptop", user="alice")
        self.bob = tokens.token_create(name="bob-laptop", user="bob")
        self.admin = tokens.token_create(name="carol-laptop", user="carol", admin=True)
        self.owner = tokens.token_create(name="server")

    def bob_named(self, text: str) -> list[str]:
        """Which of bob's session ids and project keys `text` names."""
        return [marker for marker in self.bob_sessions | self.bob_projects if marker in text]


@pytest.fixture
def team(corpus) -> Team:
    return Team()


def get(client, path: str, token: str, **params):
    return client.get(path, params, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}")


def session_ids(client, token: str) -> set[str]:
    response = get(client, "/api/v1/sessions/", token, page_size=500)
    assert response.status_code == 200, response.content[:300]
    return {row["session_id"] for row in response.json()["results"]}


# --- tokens ---------------------------------------------------------------------------------------------


def test_a_token_carries_its_user_and_admin(db) -> None:
    tokens.token_create(name="alice-laptop", user="alice")
    tokens.token_create(name="carol", user="carol", admin=True)
    rows = {r["name"]: (r["user"], r["admin"]) for r in tokens.token_list()}
    assert rows == {"alice-laptop": ("alice", False), "carol": ("carol", True)}


@pytest.mark.parametrize("user", ["", " ", "al ice", "-alice", "a" * 65, "alice\n"])
def test_a_bad_user_is_one_clear_error(db, user: str) -> None:
    if not user:
        tokens.token_create(name="owner", user=user)  # "" is the owner's
        return
    with pytest.raises(tokens.TokenError, match="a user is 1-64"):
        tokens.token_create(name="t", user=user)


def test_the_token_command_takes_a_user_and_admin_and_lists_them(tmp_path) -> None:
    from tests.test_cli import blueplane

    bad = blueplane("token", "create", "alice-laptop", "--user", "al ice", home=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "a user is 1-64" in bad.stderr
    assert "Traceback" not in bad.stderr
    made = blueplane("token", "create", "alice-laptop", "--user", "alice", home=tmp_path)
    assert made.returncode == 0 and made.stdout.startswith("bp_") and "alice" in made.stdout
    listed = orjson.loads(blueplane("token", "list", "--json", home=tmp_path).stdout)
    assert [(r["name"], r["user"], r["admin"]) for r in listed] == [("alice-laptop", "alice", False)]


# --- the narrowing itself -------------------------------------------------------------------------------


def test_every_session_tied_model_is_narrowed_when_compiled(team: Team) -> None:
    # Made before the viewer is set, as a view's class attribute is: narrowed when it runs all the same.
    made_early = Turn.objects.all()
    with scope.viewing("alice"):
        assert set(Session.objects.values_list("session_id", flat=True)) == team.alice_sessions
        assert set(made_early.values_list("session__session_id", flat=True)) <= team.alice_sessions
        for model in (Turn, ToolCall, CodeChange, DataIssue, Conversation):
            assert not model.objects.filter(session__user="bob").exists(), model
        for rollup in (UsageHour, ToolHour, ActivityHour):
            assert not rollup.objects.exclude(user="alice").exists(), rollup
        assert set(SessionProgress.objects.values_list("session_id", flat=True)) <= team.alice_sessions
        assert not Project.objects.filter(key__in=team.bob_projects).exists()
        raw = ClaudeRawTrace.objects.values_list("chunk__session_id", flat=True).distinct()
        assert raw and set(raw) <= team.alice_sessions
        assert Turn.objects.count() == Turn.objects.filter(session__user="alice").count() > 0
    with scope.viewing(scope.NOBODY):
        assert not Session.objects.exists() and not Turn.objects.count()
    assert Session.objects.filter(user="bob").exists()  # unscoped again after the block


# --- the API --------------------------------------------------------------------------------------------


def test_each_person_lists_only_their_sessions_and_admin_and_owner_list_all(client, team: Team) -> None:
    assert session_ids(client, team.alice) == team.alice_sessions
    assert session_ids(client, team.bob) == team.bob_sessions
    everyone = team.alice_sessions | team.bob_sessions
    assert session_ids(client, team.admin) == everyone
    assert session_ids(client, team.owner) == everyone


def test_another_persons_session_is_a_404_under_every_session_route(client, team: Team) -> None:
    bob = sorted(team.bob_sessions)[0]
    alice = sorted(team.alice_sessions)[0]
    for tail in (
        "",
        "timeline/",
        "summary/",
        "similar/",
        "events/",
        "turns/",
        "tool-calls/",
        "code-changes/",
    ):
        response = get(client, f"/api/v1/sessions/{bob}/{tail}", team.alice)
        assert response.status_code == 404, (tail, response.content[:200])
        # Word for word what a session that never existed gets: nothing confirms bob's exists.
        nowhere = get(client, f"/api/v1/sessions/{NOWHERE}/{tail}", team.alice)
        assert response.content.replace(bob.encode(), NOWHERE.encode()) == nowhere.content
        mine = get(client, f"/api/v1/sessions/{alice}/{tail}", team.alice)
        assert mine.status_code == 200, (tail, mine.content[:200])
    assert get(client, f"/api/v1/sessions/{bob}/", team.admin).status_code == 200
    assert get(client, f"/api/v1/sessions/{bob}/events/", team.owner).status_code == 200


def test_reports_and_export_count_only_ones_own(client, team: Team) -> None:
    export = get(client, "/api/v1/export/", team.alice, since="2000-01-01")
    assert export.status_code == 200
    text = b"".join(export.streaming_content).decode()
    assert team.bob_named(text) == []
    assert any(s in text for s in team.alice_sessions)
    admin_export = b"".join(get(client, "/api/v1/export/", team.admin, since="2000-01-01").streaming_content)
    assert all(s.encode() in admin_export for s in team.alice_sessions | team.bob_sessions)


def test_install_wide_figures_are_refused_to_a_person(client, team: Team, redis) -> None:
    for path in ("/metrics", "/api/v1/pipeline/", "/api/v1/dead-letters/", "/api/v1/dead-letters/counts/"):
        response = get(client, path, team.alice)
        assert response.status_code == 403, (path, response.content[:200])
        assert "owner" in response.json()["message"]
        assert get(client, path, team.admin).status_code == 200, path


def test_a_revoked_token_is_refused_at_its_next_request(client, team: Team) -> None:
    assert get(client, "/api/v1/sessions/", team.alice).status_code == 200
    tokens.token_revoke(name="alice-laptop")
    response = get(client, "/api/v1/sessions/", team.alice)
    assert response.status_code == 401 and response.json()["error"] == "token_revoked"


def _get_routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _get_routes(entry, prefix + str(entry.pattern))
        else:
            found.append((prefix + str(entry.pattern), entry))
    return found


def test_no_api_get_route_names_anyone_elses_session_to_a_person(client, team: Team, redis) -> None:
    """Every route of the URLconf under /api/v1/ (and /healthz, /metrics), with example parameters for
    each: alice's session, bob's session, a number, and with no query and a wide span."""
    routes = [
        (r, p) for r, p in _get_routes(get_resolver()) if r.startswith(("api/v1/", "healthz", "metrics"))
    ]
    assert len(routes) > 30
    values = {"session_id": [sorted(team.alice_sessions)[0], sorted(team.bob_sessions)[0]], "seq": ["1"]}
    walked = 0
    for route, _ in routes:
        if route.rstrip("/").endswith(("schema", "docs", "redoc")) or route.rstrip("/") == "events":
            continue  # the OpenAPI schema and its viewers hold no data; POST /events is ingest
        paths = [route]
        for name, examples in values.items():
            for converter in ("str", "int"):
                marker = f"<{converter}:{name}>"
                if marker in route:
                    paths = [p.replace(marker, e) for p in paths for e in examples]
        paths = [p.replace("<str:dead_letter_id>", "1-0") for p in paths]
        for path in paths:
            for params in ({}, {"since": "2000-01-01"}):
                response = get(client, "/" + path, team.alice, **params)
                body = (
                    b"".join(response.streaming_content) if response.streaming else response.content
                ).decode(errors="replace")
                assert response.status_code < 500, (path, response.status_code, body[:300])
                named = team.bob_named(body)
                if path.startswith(f"api/v1/sessions/{sorted(team.bob_sessions)[0]}"):
                    assert response.status_code == 404, (path, body[:300])
                    named = [m for m in named if m != sorted(team.bob_sessions)[0]]  # the asked id, echoed
                assert named == [], (path, params, named)
                walked += 1
    assert walked > 60


# --- the dashboard --------------------------------------------------------------------------------------


def test_dashboard_pages_show_a_person_only_their_sessions(client, team: Team, redis) -> None:
    client.get("/", {"token": team.alice}, REMOTE_ADDR=REMOTE)  # the cookie, as a browser gets it
    alice = sorted(team.alice_sessions)[0]
    bob = sorted(team.bob_sessions)[0]
    for path in ("/", "/sessions/", "/tools/", "/projects/", f"/sessions/{alice}/"):
        response = client.get(path, REMOTE_ADDR=REMOTE)
        assert response.status_code == 200, path
        assert team.bob_named(response.content.decode()) == [], path
    assert client.get("/pipeline/", REMOTE_ADDR=REMOTE).status_code == 403
    for path in (f"/sessions/{bob}/", f"/sessions/{bob}/timeline/", f"/sessions/{bob}/events/"):
        assert client.get(path, REMOTE_ADDR=REMOTE).status_code == 404, path
    client.get("/", {"token": team.admin}, REMOTE_ADDR=REMOTE)
    assert client.get(f"/sessions/{bob}/", REMOTE_ADDR=REMOTE).status_code == 200


# --- the live feed --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the consumers read the token table in a thread
@pytest.mark.parametrize("path", ["/ws/events", "/ws/metrics?page=overview"])
def test_the_live_feed_refuses_a_persons_token_and_serves_an_admin(redis, path: str) -> None:
    alice = tokens.token_create(name="alice-laptop", user="alice")
    admin = tokens.token_create(name="carol-laptop", user="carol", admin=True)

    async def first(token: str) -> tuple[dict, int | None]:
        joiner = "&" if "?" in path else "?"
        socket = WebsocketCommunicator(websocket_application(), f"{path}{joiner}token={token}")
        socket.scope["client"] = (REMOTE, 40000)
        connected, _ = await socket.connect(timeout=20)
        assert connected
        message = await socket.receive_json_from(timeout=20)
        closed = await socket.receive_output(timeout=20) if message["type"] == "error" else {}
        await socket.disconnect()
        return message, closed.get("code")

    message, code = asyncio.run(first(alice))
    assert message["type"] == "error" and code == 4403 and "whole install" in message["message"]
    message, code = asyncio.run(first(admin))
    assert message["type"] == "snapshot", message
