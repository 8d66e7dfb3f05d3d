"""Who may call the API. PLACEHOLDER until the access work lands: everyone may."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission


class TokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        return None


class LoopbackOrToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return True


def bind_refusal(bind: str) -> str | None:
    """Why the server must not listen on bind, or None. PLACEHOLDER."""
    return None
