"""OpenAPI pieces drf-spectacular cannot infer: the stream-token scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StreamTokenScheme(OpenApiAuthenticationExtension):
    target_class = "otp.api.StreamTokenAuthentication"
    name = "streamToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The stream's API token (`ots_...`), shown once when the stream "
            "is created or its token rotated.",
        }


RESPONSE_HEADERS = {
    "401": {"WWW-Authenticate": '`Bearer`, with `error="invalid_token"` for a bad token.'},
    "429": {"Retry-After": "Seconds until the request may be repeated."},
    "503": {"Retry-After": "Seconds until the service is expected back."},
}


# What a client does next with the id a send answers (OpenAPI links; fuzzers follow
# them to reach real verifications).
VERIFICATION_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"verification_id": "$response.body#/id"},
        "description": description,
    }
    for name, operation, description in [
        ("GetVerification", "get_verification", "The verification's status."),
        ("CancelVerification", "cancel_verification", "Cancel the verification."),
    ]
}


def add_response_headers(result, generator, request, public):
    """drf-spectacular post-processing hook: the headers our answers carry (the
    generator has no per-response header declaration)."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for status, response in responses.items():
                headers = dict(RESPONSE_HEADERS.get(status, {}))
                if status == "200" and operation.get("operationId") == "send_otp":
                    headers["Idempotent-Replayed"] = "`true` when this answers an earlier send."
                if headers:
                    response["headers"] = {
                        name: {"description": text, "schema": {"type": "string"}}
                        for name, text in headers.items()
                    }
                if status in ("200", "201") and operation.get("operationId") == "send_otp":
                    response["links"] = VERIFICATION_LINKS
    # Request bodies refuse fields they do not declare (otp.api.StrictSerializer).
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    from .errors import ERROR_CATALOGUE

    table = "\n".join(f"| `{code}` | {status} | {when} |" for code, status, when in ERROR_CATALOGUE)
    result["info"]["description"] = (
        result["info"].get("description", "")
        + '\n\nEvery refusal has the shape `{"error": {"code", "message", "fields"}}`.'
        + "\n\n| code | HTTP | when |\n|---|---|---|\n"
        + table
    )
    return result
