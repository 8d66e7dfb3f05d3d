"""Who may call the API: the trust decision as a plain function, tokens (CLI and model), the DRF classes
on every view that keeps the defaults, /healthz and /metrics, the refusal to listen off loopback without
a token, and no token in any log."""

import logging

import orjson
import pytest
from django.core.management import CommandError, call_command
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from api import tokens
from api.models import ApiToken
from api.tokens import TokenCheck, TokenState
from api.v1.access import access_decide, address_is_loopback, bind_address_is_loopback, bind_refusal
from blueplane import cli
from tests.factories import envelope

REMOTE = "192.0.2.10"  # TEST-NET-1: never this machine

VALID = TokenCheck(TokenState.VALID, "laptop")
ABSENT = TokenCheck(TokenState.ABSENT)


# --- the decision, without a database ---------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "fe80::1%lo"])
def test_loopback_addresses_are_loopback(address):
    assert address_is_loopback(address) is (address != "fe80::1%lo")


@pytest.mark.parametrize(
    "address",
    [REMOTE, "10.0.0.1", "::ffff:10.0.0.1", "fe80::1", "0.0.0.0", "", None, "localhost", "x" * 10**6],
)
def test_other_addresses_are_not_loopback(address):
    assert not address_is_loopback(address)


def test_loopback_without_token_is_let_in_while_trusted():
    assert access_decide(address="127.0.0.1", token=ABSENT, trust_loopback=True) is None
    assert access_decide(address="::1", token=ABSENT, trust_loopback=True) is None


def test_loopback_without_token_is_refused_when_not_trusted():
    refusal = access_decide(address="127.0.0.1", token=ABSENT, trust_loopback=False)
    assert refusal.status == 401 and "blueplane token create" in refusal.message


def test_remote_without_token_is_refused_saying_what_to_do():
    refusal = access_decide(address=REMOTE, token=ABSENT, trust_loopback=True)
    assert (refusal.status, refusal.code) == (401, "not_authenticated")
    assert REMOTE in refusal.message and "Authorization: Bearer" in refusal.message


@pytest.mark.parametrize("address", [REMOTE, "127.0.0.1"])
@pytest.mark.parametrize("trust", [True, False])
def test_valid_token_is_let_in_from_anywhere(address, trust):
    assert access_decide(address=address, token=VALID, trust_loopback=trust) is None


@pytest.mark.parametrize("address", [REMOTE, "127.0.0.1"])
@pytest.mark.parametrize(
    ("check", "code"),
    [
        (TokenCheck(TokenState.UNKNOWN), "authentication_failed"),
        (TokenCheck(TokenState.MALFORMED), "not_authenticated"),
        (TokenCheck(TokenState.REVOKED, "old"), "token_revoked"),
    ],
)
def test_bad_token_is_refused_even_from_loopback(address, check, code):
    refusal = access_decide(address=address, token=check, trust_loopback=True)
    assert (refusal.status, refusal.code) == (401, code)


def test_revoked_refusal_names_the_token():
    refusal = access_decide(address=REMOTE, token=TokenCheck(TokenState.REVOKED, "old"), trust_loopback=True)
    assert "'old' was revoked" in refusal.message


@pytest.mark.parametrize(
    ("header", "state"),
    [
        (None, TokenState.ABSENT),
        ("Bearer bp_abc", TokenState.UNKNOWN),
        ("bearer   bp_abc  ", TokenState.UNKNOWN),
        ("Basic dXNlcjpwYXNz", TokenState.MALFORMED),
        ("Bearer", TokenState.MALFORMED),
        ("Bearer a b", TokenState.MALFORMED),
        ("Bearer " + "x" * 10**6, TokenState.MALFORMED),
        ("", TokenState.MALFORMED),
    ],
)
def test_authorization_header_is_read_as_bearer_or_malformed(header, state):
    assert tokens.bearer_token(header)[0] is state


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_binds_need_no_token(bind):
    assert bind_address_is_loopback(bind)


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.0.2.10", "no-such-host.invalid"])
def test_other_binds_are_not_loopback(bind):
    assert not bind_address_is_loopback(bind)


# --- tokens and the refusal to listen, with the database ---------------------------------------------


@pytest.mark.django_db
def test_token_is_stored_only_as_its_digest():
    token = tokens.token_create(name="laptop")
    assert token.startswith("bp_") and len(token) > 40
    row = ApiToken.objects.get()
    assert token not in str(list(ApiToken.objects.values_list()))
    assert row.digest == tokens.digest_of(token)
    assert tokens.token_check(f"Bearer {token}").state is TokenState.VALID
    assert tokens.token_check(f"Bearer {token}x").state is TokenState.UNKNOWN


@pytest.mark.django_db
def test_revoked_token_is_refused_and_its_name_can_be_reused():
    token = tokens.token_create(name="ci")
    with pytest.raises(tokens.TokenError, match="exists"):
        tokens.token_create(name="ci")
    tokens.token_revoke(name="ci")
    check = tokens.token_check(f"Bearer {token}")
    assert (check.state, check.name) == (TokenState.REVOKED, "ci")
    with pytest.raises(tokens.TokenError, match="no live token"):
        tokens.token_revoke(name="ci")
    again = tokens.token_create(name="ci")
    assert tokens.token_check(f"Bearer {again}").state is TokenState.VALID
    assert tokens.token_check(f"Bearer {token}").state is TokenState.REVOKED


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", " ", "a b", "-x", "x" * 65, "ü", "a/b", "n" * 10**6])
def test_bad_token_names_are_refused(name):
    with pytest.raises(tokens.TokenError, match="a token name is"):
        tokens.token_create(name=name)


@pytest.mark.django_db
def test_last_use_is_noted():
    token = tokens.token_create(name="laptop")
    assert ApiToken.objects.get().last_used_at is None
    tokens.token_check(f"Bearer {token}")
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.django_db
def test_bind_refusal_off_loopback_until_a_live_token_exists():
    assert bind_refusal("127.0.0.1") is None
    message = bind_refusal("0.0.0.0")
    assert "refusing to listen on 0.0.0.0" in message and "blueplane token create NAME" in message
    assert "\n" not in message
    tokens.token_create(name="server")
    assert bind_refusal("0.0.0.0") is None
    tokens.token_revoke(name="server")
    assert bind_refusal("0.0.0.0") is not None


@pytest.mark.django_db
def test_runweb_refuses_to_start_off_loopback_without_a_token():
    with pytest.raises(CommandError, match=r"refusing to listen on 192\.0\.2\.10"):
        call_command("runweb", bind="192.0.2.10", port=0)


@pytest.mark.django_db
def test_blueplane_up_shows_the_refusal_in_one_line(settings, capsys):
    settings.BLUEPLANE_BIND = "0.0.0.0"
    assert cli.main(["up"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("blueplane: refusing to listen on 0.0.0.0") and err.count("\n") == 1


@pytest.mark.django_db(transaction=True)
def test_token_commands_create_list_and_revoke(capsys):
    assert cli.main(["token", "create", "laptop", "--json"]) == 0
    token = orjson.loads(capsys.readouterr().out)["token"]
    assert tokens.token_check(f"Bearer {token}").state is TokenState.VALID
    assert cli.main(["token", "create", "desk"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("bp_") and "shown only this once" in out
    assert cli.main(["token", "create", "desk"]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli.main(["token", "revoke", "laptop"]) == 0
    capsys.readouterr()
    assert cli.main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "laptop" in listed and "desk" in listed and "never" in listed
    assert token not in listed
    assert cli.main(["token", "list", "--json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert [(r["name"], r["revoked_at"] is not None) for r in rows] == [("laptop", True), ("desk", False)]
    assert cli.main(["token", "revoke", "laptop"]) == 2
    assert "no live token named 'laptop'" in capsys.readouterr().err
    assert tokens.token_check(f"Bearer {token}").state is TokenState.REVOKED


# --- the rule on requests --------------------------------------------------------------------------


class Plain(APIView):
    """A view that keeps the API's default authentication and permission, as every resource does."""

    def get(self, request):
        return Response({"ok": True})


def _plain(**headers) -> int:
    request = APIRequestFactory().get("/api/v1/plain", **headers)
    response = Plain.as_view()(request)
    return response.status_code


@pytest.mark.django_db
def test_default_classes_guard_every_view():
    token = tokens.token_create(name="laptop")
    assert _plain() == 200  # the factory's REMOTE_ADDR is 127.0.0.1
    assert _plain(REMOTE_ADDR=REMOTE) == 401
    assert _plain(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}") == 200
    assert _plain(HTTP_AUTHORIZATION="Bearer wrong") == 401
    tokens.token_revoke(name="laptop")
    assert _plain(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}") == 401


@pytest.mark.django_db
def test_loopback_needs_a_token_when_trust_is_off(settings, client):
    settings.API_TRUST_LOOPBACK = False
    token = tokens.token_create(name="laptop")
    assert _plain() == 401
    assert _plain(HTTP_AUTHORIZATION=f"Bearer {token}") == 200
    assert client.get("/healthz").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_ops_endpoints_follow_the_same_rule(client, redis, path):
    token = tokens.token_create(name="prometheus")
    refused = client.get(path, REMOTE_ADDR=REMOTE)
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get(path, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code in {
        200,
        503,
    }
    assert client.get(path).status_code in {200, 503}
    tokens.token_revoke(name="prometheus")
    revoked = client.get(path, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (revoked.status_code, revoked.json()["error"]) == (401, "token_revoked")


@pytest.mark.django_db
def test_ingest_refuses_remote_clients_without_a_valid_token(client, redis):
    token = tokens.token_create(name="team")
    batch = orjson.dumps([envelope()])

    def post(**extra):
        return client.post("/api/v1/events", batch, content_type="application/json", **extra)

    assert post(REMOTE_ADDR=REMOTE).status_code == 401
    assert post(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION="Bearer bp_nope").status_code == 401
    assert redis.xlen("telemetry:events") == 0
    assert post(REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 202
    assert redis.xlen("telemetry:events") == 1


@pytest.mark.django_db
def test_no_token_appears_in_any_log(client, redis, caplog):
    """A valid, a revoked and a wrong token, from loopback and from afar, on the API, the ops endpoints
    and an unknown URL: the logs (every logger, every level) never carry one."""
    valid = tokens.token_create(name="valid")
    revoked = tokens.token_create(name="revoked")
    tokens.token_revoke(name="revoked")
    wrong = "bp_" + "w" * 43
    caplog.set_level(logging.DEBUG)
    for token in (valid, revoked, wrong):
        for address in ("127.0.0.1", REMOTE):
            auth = {"REMOTE_ADDR": address, "HTTP_AUTHORIZATION": f"Bearer {token}"}
            client.post("/api/v1/events", orjson.dumps([envelope()]), content_type="application/json", **auth)
            client.post("/api/v1/events", b"[{", content_type="application/json", **auth)
            client.post("/api/v1/events", b"x", content_type="text/plain", **auth)
            client.get("/api/v1/events", **auth)
            client.get("/api/v1/no-such-thing", **auth)
            client.get("/healthz", **auth)
            client.get("/metrics", **auth)
            client.get("/api/v1/schema/", **auth)
            client.get("/api/v1/plain", **auth)
            client.get("/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {token} {token}", REMOTE_ADDR=address)
    assert caplog.records  # the refusals and bad requests were logged, so there was something to look at
    logged = caplog.text + "".join(
        str(r.args) + str(getattr(r, "request", "")) + str(r.__dict__) for r in caplog.records
    )
    for token in (valid, revoked, wrong):
        assert token not in logged
        assert token[3:] not in logged
