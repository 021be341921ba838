"""How the OpenAPI schema describes the API's credentials: one bearer scheme for both kinds."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OidcTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.OidcTokenAuthentication"
    name = "oidcToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An ID token from the identity provider (POST /authenticate/token).",
        }


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.TokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (mpt_…), with or without `Bearer`.",
        }
