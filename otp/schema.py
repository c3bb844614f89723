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
