"""POST /api/v1/events: a batch of envelopes onto telemetry:events, all or nothing (batch.py)."""

import logging

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.limits import too_large_message
from api.tokens import TokenCheck
from api.v1.errors import body
from telemetry.connections import redis_client_quick

from ..errors import ErrorSerializer
from .batch import BatchRefused, batch_check, batch_queue
from .serializers import EnvelopeSerializer, QueuedSerializer

logger = logging.getLogger(__name__)

JSON = "application/json"
_ERRORS = {
    400: "malformed JSON, not an array, or an envelope that breaks the wire format (its index is in detail)",
    401: "a token is needed (clients off loopback) or the token is wrong or revoked",
    413: "the body, the number of events or one event is over its limit",
    415: "the body is not application/json",
    503: "Redis is not answering: nothing was queued; retry later",
}


def _error(status: int, code: str, message: str, detail: dict | None = None) -> Response:
    return Response(body(status, code, message, detail), status=status)


def _token_user(request: Request) -> str:
    """The person the request's token belongs to ("" without a token or for an owner's token)."""
    return request.auth.user if isinstance(request.auth, TokenCheck) else ""


class EventIngest(APIView):
    # Declared for the schema; the body is parsed by batch.py, with the fast path's JSON parser.
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_ingest",
        summary="Queue a batch of events",
        description=(
            "A JSON array of envelopes in the wire format, queued on `telemetry:events` for the fast path. "
            "The batch is validated whole and queued in one step: one bad envelope refuses it all (400 "
            "naming its index), and nothing is queued. Posting the same events again stores each once "
            "(by `event_id`), so a client retries freely. Limits: `BLUEPLANE_API_INGEST_MAX_EVENTS` "
            "envelopes and `BLUEPLANE_API_INGEST_MAX_MB` per request, `BLUEPLANE_MAX_EVENT_BYTES` per event."
        ),
        request=EnvelopeSerializer(many=True),
        responses={
            202: QueuedSerializer,
            **{
                status: OpenApiResponse(ErrorSerializer, description=text) for status, text in _ERRORS.items()
            },
        },
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        if request.content_type != JSON:
            got = request.content_type or "no content type"
            return _error(415, "unsupported_media_type", f"send the batch as {JSON}, not {got[:100]}")
        limit = settings.API_INGEST_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _error(413, "too_large", too_large_message(limit))
        try:
            raw = request._request.body
        except RequestDataTooBig:
            return _error(413, "too_large", too_large_message(limit))
        if len(raw) > limit:
            return _error(413, "too_large", too_large_message(limit))
        try:
            events = batch_check(
                raw,
                max_events=settings.API_INGEST_MAX_EVENTS,
                max_event_bytes=settings.FASTPATH_MAX_EVENT_BYTES,
                user=_token_user(request),
            )
        except BatchRefused as exc:
            detail = None if exc.index is None else {"index": exc.index, "reason": exc.reason}
            return _error(exc.status, exc.code, str(exc), detail)
        try:
            queued = batch_queue(redis_client_quick(), events)
        except (redis.RedisError, OSError) as exc:
            logger.warning("ingest: Redis failed, %d events not queued: %s", len(events), type(exc).__name__)
            response = _error(
                503,
                "unavailable",
                "Redis is not answering, so nothing was queued; retry later (events already stored are "
                "stored once)",
            )
            response["Retry-After"] = "5"
            response._has_been_logged = True  # the warning above says it, without Django's ERROR line
            return response
        return Response({"queued": queued}, status=202)
