"""What the OpenAPI schema says about errors: any operation may answer a 4XX in the one error shape of
api/v1/errors.py. drf-spectacular documents only the successful responses, so without this a client,
Swagger UI or the fuzz test (tests/api/test_fuzz.py) could not tell a refusal from a broken response."""

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error: a 4xx status with a message a person understands.",
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 499, "description": "the HTTP status"},
        "error": {"type": "string", "description": "a code, e.g. not_found, parse_error, invalid"},
        "message": {"type": "string", "description": "one sentence naming what was wrong"},
        "detail": {"description": "field by field, when the error concerns fields of the request"},
    },
    "required": ["status", "error", "message"],
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def errors_documented(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: the Error component, and a 4XX response of that shape on
    every operation (a status an operation documents itself, e.g. 413, still takes precedence)."""
    # An endpoint's own ErrorSerializer (drf-spectacular names it "Error" too) describes the same shape.
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    error = {
        "description": "The request was refused: unknown id, bad parameter, bad body, missing token...",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method in METHODS:
                operation.setdefault("responses", {}).setdefault("4XX", error)
    return result
