"""Offline validation of the provider's ID tokens (JWTs): signature against the provider's
published keys, an allowlist of asymmetric algorithms, issuer, audience, expiry and not-before.
Each refusal says why in words a person can act on; the token itself is never logged."""

import jwt
from django.conf import settings

from identity import provider

# Asymmetric algorithms only: `none` proves nothing, and HS* would let anyone who knows the
# client secret (every portal process) mint tokens.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _signing_key(kid, algorithm):
    jwk = provider.signing_keys().get(kid)
    if jwk is None:
        # Perhaps the provider rotated its keys since we last looked.
        jwk = provider.signing_keys(refresh=True).get(kid)
    if jwk is None:
        raise InvalidToken(
            "unknown_signing_key",
            "The token was signed with a key the identity provider does not publish; log in "
            "again to get a new token.",
        )
    if jwk.get("alg") not in (None, algorithm):
        raise InvalidToken("bad_signature", "The token's algorithm does not match its signing key.")
    try:
        return jwt.PyJWK(jwk, algorithm).key
    except jwt.PyJWTError:
        raise InvalidToken(
            "unknown_signing_key",
            "The identity provider publishes this key in a form we can't use.",
        ) from None


def validate_id_token(raw):
    """The claims of `raw` if it is a valid ID token for this portal, else InvalidToken."""
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise InvalidToken(
            "malformed_token",
            "The Authorization header holds neither a personal access token (mpt_…) nor a JWT.",
        ) from None
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise InvalidToken(
            "algorithm_not_allowed",
            f"Tokens signed with {algorithm!r} are not accepted; use an ID token from the "
            "identity provider.",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("unknown_signing_key", "The token does not name its signing key (kid).")
    key = _signing_key(kid, algorithm)
    try:
        return jwt.decode(
            raw,
            key,
            algorithms=[algorithm],
            audience=settings.OIDC_CLIENT_ID,
            issuer=settings.OIDC_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken(
            "token_expired", "The token has expired; log in again or refresh it."
        ) from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken(
            "token_not_yet_valid", "The token is not valid yet; check this machine's clock."
        ) from None
    except jwt.InvalidAudienceError:
        raise InvalidToken(
            "wrong_audience",
            "The token was issued to another application; use a token issued to "
            f"{settings.OIDC_CLIENT_ID!r}.",
        ) from None
    except jwt.InvalidIssuerError:
        raise InvalidToken(
            "wrong_issuer",
            f"The token was issued by another identity provider; this portal trusts "
            f"{settings.OIDC_ISSUER}.",
        ) from None
    except jwt.InvalidSignatureError:
        raise InvalidToken(
            "bad_signature", "The token's signature is not valid; it was altered or forged."
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken("malformed_token", f"The token lacks the {exc.claim!r} claim.") from None
    except jwt.PyJWTError:
        raise InvalidToken("malformed_token", "The token is not a well-formed JWT.") from None
