"""Login for the CLI, as in the reference platform: `GET /authenticate` sends the browser to the
provider; the provider sends it back with a code (to the CLI's own redirect URI, or to
/authenticate/callback, which shows the code); `POST /authenticate/token` trades the code, or a
refresh token, for tokens. Plus `GET /me`: who the caller is and what they may do."""

import secrets
import time
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from core.api.envelope import envelope
from core.api.schema import answers, error_responses
from core.api.views import ApiView
from core.errors import BadGateway, Forbidden, Invalid, NotFound, Unavailable
from identity import provider
from identity.errors import IdentityErrorCode
from identity.id_tokens import InvalidToken, validate_id_token
from identity.users import UnusableClaims, user_from_claims


def _require_oidc():
    if not provider.oidc_enabled():
        raise NotFound(
            IdentityErrorCode.OIDC_DISABLED,
            "This portal has no identity provider configured (OIDC_ISSUER is unset); use a "
            "personal access token.",
        )


def _unavailable(exc):
    return Unavailable(IdentityErrorCode.IDENTITY_PROVIDER_UNAVAILABLE, str(exc))


def cli_redirect_uri(request):
    callback = reverse("authenticate-callback")
    return settings.OIDC_CLI_REDIRECT_URI or request.build_absolute_uri(callback)


class LoginCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    state = serializers.CharField(allow_blank=True)


class ProviderTokensSerializer(serializers.Serializer):
    id_token = serializers.CharField()
    refresh_token = serializers.CharField(allow_null=True)
    access_token = serializers.CharField(allow_null=True)
    expires_in = serializers.IntegerField(allow_null=True)
    expires_at = serializers.FloatField(allow_null=True, help_text="Unix time.")
    token_type = serializers.CharField()


class TokensSerializer(serializers.Serializer):
    token = ProviderTokensSerializer(
        help_text="The provider's tokens, where the reference's clients read them "
        "(data.token); the same values as the fields beside it."
    )
    id_token = serializers.CharField()
    refresh_token = serializers.CharField(allow_null=True)
    expires_in = serializers.IntegerField(allow_null=True)
    token_type = serializers.ChoiceField(choices=["Bearer"])
    username = serializers.CharField()


class TokenRequestSerializer(serializers.Serializer):
    code = serializers.CharField(required=False, max_length=4096)
    redirect_uri = serializers.URLField(required=False)
    refresh_token = serializers.CharField(required=False, max_length=8192)

    def validate(self, attrs):
        if bool(attrs.get("code")) == bool(attrs.get("refresh_token")):
            raise serializers.ValidationError("Send either a code or a refresh_token.")
        return attrs


class PublicView(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]


class AuthenticateView(PublicView):
    @extend_schema(
        summary="Log in: redirects to the identity provider's login page",
        parameters=[
            OpenApiParameter(
                "redirect_uri",
                str,
                description="Registered with the provider; default /authenticate/callback.",
            ),
            OpenApiParameter("state", str, description="Echoed back with the code."),
        ],
        responses={
            302: OpenApiResponse(description="To the provider's login page."),
            **error_responses(404, 503),
        },
    )
    def get(self, request):
        _require_oidc()
        try:
            authorize = provider.endpoint("authorization_endpoint")
        except provider.ProviderUnavailable as exc:
            raise _unavailable(exc) from None
        params = {
            "response_type": "code",
            "client_id": settings.OIDC_CLIENT_ID,
            "scope": f"{settings.OIDC_SCOPES} offline_access",
            "redirect_uri": request.query_params.get("redirect_uri") or cli_redirect_uri(request),
            "state": request.query_params.get("state") or secrets.token_urlsafe(16),
        }
        return HttpResponseRedirect(f"{authorize}?{urlencode(params)}")


class AuthenticateCallbackView(PublicView):
    @answers(
        "OK",
        LoginCodeSerializer,
        errors=(400, 404),
        signed_in=False,
        summary="Where the provider returns the browser: shows the code for the CLI",
        parameters=[
            OpenApiParameter("code", str),
            OpenApiParameter("state", str),
            OpenApiParameter("error", str),
            OpenApiParameter("error_description", str),
        ],
    )
    def get(self, request):
        _require_oidc()
        if "error" in request.query_params:
            reason = request.query_params.get("error_description") or request.query_params["error"]
            raise Invalid(
                IdentityErrorCode.LOGIN_FAILED,
                f"The identity provider did not log you in: {reason}.",
            )
        code = request.query_params.get("code")
        if not code:
            raise Invalid(
                IdentityErrorCode.MISSING_CODE,
                "This page expects a code from the identity provider.",
            )
        return envelope("OK", {"code": code, "state": request.query_params.get("state", "")})


class AuthenticateTokenView(PublicView):
    @answers(
        "OK",
        TokensSerializer,
        errors=(400, 403, 404, 502, 503),
        signed_in=False,
        summary="Trade a login code or a refresh token for an ID token",
        request=TokenRequestSerializer,
    )
    def post(self, request):
        _require_oidc()
        data = self.body(TokenRequestSerializer)
        if data.get("code"):
            form = {
                "grant_type": "authorization_code",
                "code": data["code"],
                "redirect_uri": data.get("redirect_uri") or cli_redirect_uri(request),
            }
        else:
            form = {"grant_type": "refresh_token", "refresh_token": data["refresh_token"]}
        try:
            tokens = provider.request_tokens(**form)
            claims = validate_id_token(tokens.get("id_token") or "")
            user = user_from_claims(claims, login=True)
        except provider.TokenRequestFailed as exc:
            raise Invalid(
                IdentityErrorCode.INVALID_GRANT,
                "The identity provider refused the "
                f"{'code' if data.get('code') else 'refresh token'}: "
                f"{exc.description or exc.error}. Log in again.",
            ) from None
        except provider.ProviderUnavailable as exc:
            raise _unavailable(exc) from None
        except InvalidToken as exc:
            # Our own provider sent a token we can't accept: its configuration, not the caller.
            raise BadGateway(
                IdentityErrorCode.INVALID_ID_TOKEN,
                f"The identity provider's ID token was refused: {exc.message}",
            ) from None
        except UnusableClaims as exc:
            raise Forbidden(exc.code, str(exc)) from None
        expires_in = tokens.get("expires_in")
        return envelope(
            "OK",
            {
                "token": {
                    "id_token": tokens["id_token"],
                    "refresh_token": tokens.get("refresh_token"),
                    "access_token": tokens.get("access_token"),
                    "expires_in": expires_in,
                    "expires_at": time.time() + expires_in if expires_in else None,
                    "token_type": tokens.get("token_type") or "Bearer",
                },
                "id_token": tokens["id_token"],
                "refresh_token": tokens.get("refresh_token"),
                "expires_in": expires_in,
                "token_type": "Bearer",
                "username": user.get_username(),
            },
        )
