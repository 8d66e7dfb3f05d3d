"""API tokens: what a client off this machine shows to use the API (api/v1/access.py decides)."""

from django.db import models


class ApiToken(models.Model):
    """A named API token. Only the SHA-256 of the token is stored: the token itself is printed once, by
    `blueplane token create NAME`, and cannot be read back. Revoking keeps the row (its name, dates and
    last use stay listed) and refuses the token from then on."""

    name = models.CharField(max_length=64)
    # Tokens are 256 random bits: a plain SHA-256 is enough (no salt or slow hash), and lets a request
    # find its row by an indexed equality instead of trying every row.
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Whose token it is (docs/team.md). "" is the install's owner, who sees everything (a one-person
    # install's tokens); a user sees the sessions whose Session.user is theirs, unless admin.
    user = models.CharField(max_length=150, blank=True, default="")
    admin = models.BooleanField(default=False, help_text="sees the whole team's data")

    class Meta:
        db_table = "api_tokens"
        constraints = [
            # A name names one live token (`token revoke NAME`); a revoked token's name may be reused.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(revoked_at__isnull=True), name="api_token_live_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TeamSalt(models.Model):
    """The team server's salt (docs/team.md): given to each machine at `blueplane connect`, so that the
    same repository hashes to the same project key on every machine. One row, made on first use."""

    salt = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "api_team_salt"

    def __str__(self) -> str:
        return f"team salt of {self.created_at:%Y-%m-%d}"
