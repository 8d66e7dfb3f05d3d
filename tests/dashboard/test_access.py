"""Who may see the dashboard's pages (api/dashboard/access.py, the API's rule): loopback without a token;
another machine with a valid token, given once as `?token=` (kept in a cookie, taken out of the address)
and refused when missing, unknown or revoked. And every page answers a bad filter with a 400 page that
says which, never a 500, whatever the value (past 64 bits, years 1 and 9999, a megabyte)."""

import pytest

from api import tokens
from api.dashboard.access import TOKEN_COOKIE

pytestmark = pytest.mark.django_db

REMOTE = "192.0.2.10"  # TEST-NET-1: never this machine
PAGES = ["/", "/sessions/", "/tools/", "/projects/", "/pipeline/"]


@pytest.fixture
def token(redis) -> str:
    """A live token; the pages read Redis (the pipeline page's checks), so a clean one is up too."""
    return tokens.token_create(name="laptop")


# --- loopback and other machines ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_loopback_needs_no_token(client, redis, path) -> None:
    response = client.get(path, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", PAGES)
def test_another_machine_without_a_token_gets_a_401_page_saying_how_to_get_in(client, redis, path) -> None:
    response = client.get(path, REMOTE_ADDR=REMOTE)
    assert response.status_code == 401
    html = response.content.decode()
    assert "?token=" in html and 'id="figures"' not in html  # the way in, and nothing of the page


def test_a_token_in_the_address_becomes_a_cookie_and_leaves_the_address(client, token) -> None:
    response = client.get(f"/pipeline/?tz=UTC&token={token}&period=30d", REMOTE_ADDR=REMOTE)
    assert response.status_code == 302
    assert response["Location"] == "/pipeline/?tz=UTC&period=30d"  # the other filters kept
    assert token not in response["Location"]
    cookie = response.cookies[TOKEN_COOKIE]
    assert cookie.value == token
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # The browser follows the redirect with the cookie, and goes on with it alone.
    followed = client.get(response["Location"], REMOTE_ADDR=REMOTE)
    assert followed.status_code == 200
    assert token not in followed.content.decode()
    assert client.get("/sessions/", REMOTE_ADDR=REMOTE).status_code == 200


def test_a_token_given_alone_redirects_to_the_bare_page(client, token) -> None:
    response = client.get(f"/?token={token}", REMOTE_ADDR=REMOTE)
    assert (response.status_code, response["Location"]) == (302, "/")


def test_a_revoked_token_is_refused_in_the_address_and_in_the_cookie(client, token) -> None:
    assert client.get(f"/?token={token}", REMOTE_ADDR=REMOTE).status_code == 302
    assert client.get("/", REMOTE_ADDR=REMOTE).status_code == 200  # by the cookie
    tokens.token_revoke(name="laptop")
    by_cookie = client.get("/", REMOTE_ADDR=REMOTE)
    assert by_cookie.status_code == 401
    assert "revoked" in by_cookie.content.decode()
    client.cookies.clear()
    by_address = client.get(f"/pipeline/?token={token}", REMOTE_ADDR=REMOTE)
    assert by_address.status_code == 401
    assert TOKEN_COOKIE not in by_address.cookies  # no cookie for a refused token
    assert token not in by_address.content.decode()


@pytest.mark.parametrize("address", [REMOTE, "127.0.0.1"])
@pytest.mark.parametrize("presented", ["bp_unknown", "x" * 1_000_000, "two words"])
def test_an_unknown_or_malformed_token_is_refused_even_from_loopback(
    client, redis, address, presented
) -> None:
    response = client.get("/", {"token": presented}, REMOTE_ADDR=address)
    assert response.status_code == 401
    assert TOKEN_COOKIE not in response.cookies  # never a cookie of what was not checked
    assert len(response.content) < 10_000  # the page does not echo a megabyte back


def test_a_bearer_header_also_lets_a_script_in(client, token) -> None:
    response = client.get("/tools/", REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


# --- bad filters: a 400 page, never a 500 ----------------------------------------------------------------

BAD_FILTERS = {
    "an unknown zone": ({"tz": "Mars/Base"}, "tz"),
    "a zone path": ({"tz": "../../etc/passwd"}, "tz"),
    "a megabyte zone": ({"tz": "Europe/" + "x" * 1_000_000}, "tz"),
    "an unknown period": ({"period": "x"}, "period"),
    "a five-digit year": ({"since": "99999-01-01"}, "since"),
    "a number past 64 bits": ({"since": str(2**64 + 1)}, "since"),
    "year 0": ({"until": "0000-12-31"}, "until"),
    "a day that is not": ({"since": "2026-02-30"}, "since"),
    "since after until": ({"since": "2026-01-02", "until": "2026-01-01"}, "after"),
    "a megabyte project": ({"project": "p" * 1_000_000}, "project"),
    "a megabyte model": ({"model": "m" * 1_000_000}, "model"),
    "an unknown platform": ({"platform": "vim"}, "platform"),
}


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("case", BAD_FILTERS, ids=list(BAD_FILTERS))
def test_a_bad_filter_is_a_400_page_naming_it(client, redis, path, case) -> None:
    params, named = BAD_FILTERS[case]
    response = client.get(path, params)
    assert response.status_code == 400, response.content[:300]
    html = response.content.decode()
    assert named in html and "<h1>" in html
    assert len(html) < 10_000  # what was sent is quoted cut short, not echoed whole


@pytest.mark.parametrize("path", PAGES)
def test_the_first_and_last_days_there_are_answer_200(client, redis, path) -> None:
    response = client.get(path, {"since": "0001-01-01", "until": "9999-12-31", "tz": "Pacific/Kiritimati"})
    assert response.status_code == 200
    assert (
        client.get(path, {"since": "9999-12-31", "until": "9999-12-31", "tz": "Etc/GMT+12"}).status_code
        == 200
    )
    assert client.get(path, {"until": "0001-01-01", "tz": "Pacific/Kiritimati"}).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_unknown_parameters_are_ignored(client, redis, path) -> None:
    assert client.get(path, {"sort": "x" * 1000, "period": "all", "tz": "UTC"}).status_code == 200


@pytest.mark.parametrize("session_id", [str(2**64 + 1), "x" * 100_000, "%00", "..", "a b"])
def test_an_odd_session_id_is_a_4xx_page(client, redis, session_id) -> None:
    response = client.get(f"/sessions/{session_id}/")
    assert 400 <= response.status_code < 500
    assert len(response.content) < 10_000  # the page names the id it could not find, cut short
