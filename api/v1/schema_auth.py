"""How the OpenAPI schema describes access (api/v1/access.py): a bearer token, optional, because
loopback clients need none by default. Imported by ApiConfig.ready() so drf-spectacular finds it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.v1.access.TokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `blueplane token create NAME`. Clients on the server's own machine "
            "(loopback) need none unless BLUEPLANE_API_TRUST_LOOPBACK is off.",
        }

    def get_security_requirement(self, auto_schema: object) -> list[dict]:
        # `{}`: no credentials is acceptable too (from loopback); schema-driven clients and fuzzers see
        # the rule as it is.
        return [{self.name: []}, {}]
