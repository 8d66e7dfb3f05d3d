"""POST /api/v1/team/connect: who a token belongs to and the team salt, for `blueplane connect`."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.team import server_name, team_salt
from api.tokens import TokenCheck, TokenState
from api.v1.errors import body

from ..errors import ErrorSerializer


class ConnectSerializer(serializers.Serializer):
    user = serializers.CharField(help_text='the token\'s person ("" for a token without one)')
    team_salt = serializers.CharField(help_text="hex: the salt every connected machine hashes with")
    server = serializers.CharField(help_text="the server's name")


class TeamConnect(APIView):
    @extend_schema(
        operation_id="team_connect",
        summary="Connect a developer machine",
        description=(
            "What `blueplane connect` asks: the token's user and the team salt (made on first use). "
            "A token is required, even from loopback: the salt is for team members only."
        ),
        request=None,
        responses={
            200: ConnectSerializer,
            401: OpenApiResponse(ErrorSerializer, description="no valid token"),
        },
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        check = request.auth
        if not isinstance(check, TokenCheck) or check.state is not TokenState.VALID:
            message = "connecting needs an API token, even from this machine: `blueplane token create NAME`"
            response = Response(body(401, "not_authenticated", message), status=401)
            response["WWW-Authenticate"] = 'Bearer realm="blueplane"'
            return response
        return Response({"user": check.user, "team_salt": team_salt().hex(), "server": server_name()})
