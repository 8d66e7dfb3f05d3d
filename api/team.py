"""The team server's side of `blueplane connect` (docs/team.md): the team salt and the server's name."""

import os
import socket

from django.db import IntegrityError, transaction

from .models import TeamSalt

SALT_BYTES = 32
# One row, always this id: two first requests racing to make it both end up with the one that won.
_ROW_ID = 1


def team_salt() -> bytes:
    """The team salt, made on first use. Race-safe: of two concurrent first calls, one inserts and the
    other's insert fails on the primary key, so it reads the winner's."""
    row = TeamSalt.objects.filter(id=_ROW_ID).values_list("salt", flat=True).first()
    if row is not None:
        return bytes(row)
    try:
        with transaction.atomic():
            TeamSalt.objects.create(id=_ROW_ID, salt=os.urandom(SALT_BYTES))
    except IntegrityError:
        pass
    return bytes(TeamSalt.objects.values_list("salt", flat=True).get(id=_ROW_ID))


def server_name() -> str:
    """What a connected machine calls this server in `blueplane status`."""
    return os.environ.get("BLUEPLANE_SERVER_NAME") or socket.gethostname()
