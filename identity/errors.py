"""The identity app's stable error codes: logins, and the tokens it checks."""

from enum import StrEnum


class IdentityErrorCode(StrEnum):
    OIDC_DISABLED = "oidc_disabled"
    IDENTITY_PROVIDER_UNAVAILABLE = "identity_provider_unavailable"
    LOGIN_FAILED = "login_failed"
    MISSING_CODE = "missing_code"
    INVALID_GRANT = "invalid_grant"
    INVALID_ID_TOKEN = "invalid_id_token"
    # Why an ID token is refused.
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_SIGNING_KEY = "unknown_signing_key"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    MALFORMED_TOKEN = "malformed_token"
    UNUSABLE_TOKEN = "unusable_token"
    ACCOUNT_DISABLED = "account_disabled"
