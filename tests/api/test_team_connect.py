"""The team server's side of forwarding: POST /api/v1/team/connect (a token, even from loopback; the
token's user and one team salt), and ingest replacing `user_id` with the token's user and checking
`machine_id` (docs/team.md)."""

import threading

import orjson
import pytest
from django.db import connection

from api import tokens
from api.models import ApiToken, TeamSalt
from api.team import team_salt
from telemetry.wire import EVENTS_STREAM
from tests.factories import envelope

pytestmark = pytest.mark.django_db

CONNECT = "/api/v1/team/connect"


def token_of(name: str, user: str = "") -> str:
    token = tokens.token_create(name=name)
    ApiToken.objects.filter(name=name).update(user=user)
    return token


def test_connect_needs_a_token_even_from_loopback(client):
    answer = client.post(CONNECT)
    assert answer.status_code == 401, answer.content
    assert answer.json()["error"] == "not_authenticated"
    assert not TeamSalt.objects.exists()


def test_connect_answers_the_tokens_user_and_one_salt(client):
    alice, bob = token_of("alice-laptop", "alice"), token_of("bob-laptop", "bob")
    first = client.post(CONNECT, HTTP_AUTHORIZATION=f"Bearer {alice}").json()
    second = client.post(CONNECT, HTTP_AUTHORIZATION=f"Bearer {bob}").json()
    assert first["user"] == "alice" and second["user"] == "bob"
    assert first["team_salt"] == second["team_salt"] and len(bytes.fromhex(first["team_salt"])) == 32
    assert first["server"]
    assert TeamSalt.objects.count() == 1


def test_a_revoked_token_is_refused(client):
    token = token_of("gone", "carol")
    tokens.token_revoke(name="gone")
    answer = client.post(CONNECT, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 401 and answer.json()["error"] == "token_revoked"


@pytest.mark.django_db(transaction=True)
def test_the_team_salt_is_made_once_when_first_calls_race():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers: the race needs PostgreSQL")
    salts, barrier = [], threading.Barrier(4)

    def first_use():
        barrier.wait()
        salts.append(team_salt())
        connection.close()

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(salts)) == 1 and TeamSalt.objects.count() == 1


def queued(redis) -> list[dict]:
    return [orjson.loads(fields[b"event"]) for _, fields in redis.xrange(EVENTS_STREAM)]


def test_ingest_sets_user_id_from_the_token_replacing_the_clients(client, redis):
    token = token_of("alice-laptop", "alice")
    batch = [envelope(user_id="mallory", machine_id="alice-mbp.1"), envelope(machine_id="alice-mbp.1")]
    answer = client.post(
        "/api/v1/events",
        orjson.dumps(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 202, answer.content
    assert [(e["user_id"], e["machine_id"]) for e in queued(redis)] == [("alice", "alice-mbp.1")] * 2


def test_ingest_without_a_user_leaves_user_id_alone(client, redis):
    answer = client.post("/api/v1/events", orjson.dumps([envelope()]), content_type="application/json")
    assert answer.status_code == 202
    assert "user_id" not in queued(redis)[0]


@pytest.mark.parametrize("machine", ["", "a b", "x" * 65, "laptop/1", 7, None])
def test_a_bad_machine_id_refuses_the_batch_naming_its_index(client, redis, machine):
    batch = [envelope(), envelope(machine_id=machine)]
    answer = client.post("/api/v1/events", orjson.dumps(batch), content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["detail"]["index"] == 1 and "machine_id" in answer.json()["detail"]["reason"]
    assert redis.xlen(EVENTS_STREAM) == 0
