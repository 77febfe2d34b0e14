"""Sign-in settings: passwords and their reset, invitations, lockout (django-axes), single sign-on
(mozilla-django-oidc), SCIM provisioning (django-scim2) and the second factor (django-otp).
Imported by closedlost.settings."""

import os

from closedlost.settings_parts.env import PRODUCTION, envbool, envint, envlist

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "signin.backends.PasswordBackend",  # ModelBackend, off when an admin turns passwords off
    "signin.oidc.SsoBackend",  # single sign-on (OpenID Connect, mozilla-django-oidc)
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Reset links work this long (and once: the token changes with the password).
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", 2 * 3600)
# People: invite links work this many days (resending starts again); the public password pages
# (reset request, reset link, invite link) answer at most PEOPLE_PAGE_RATE_LIMIT requests per
# address, and one address gets at most PEOPLE_RESET_EMAILS_PER_HOUR reset e-mails.
PEOPLE_INVITE_MAX_AGE_DAYS = envint("PEOPLE_INVITE_MAX_AGE_DAYS", 7)
PEOPLE_PAGE_RATE_LIMIT = os.environ.get("PEOPLE_PAGE_RATE_LIMIT", "20/min")
PEOPLE_RESET_EMAILS_PER_HOUR = envint("PEOPLE_RESET_EMAILS_PER_HOUR", 3)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "deals:list"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection: lock a username+IP pair after repeated failures.
AXES_ENABLED = envbool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 1  # hours
# Failures lock one account from one address (a stranger elsewhere cannot lock a user out), the
# address taken behind TRUSTED_PROXY_COUNT proxies from X-Forwarded-For (closedlost/clientip.py).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "closedlost.clientip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Single sign-on (signin/): OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET fix the provider (else
# the admins' page at /signin/settings/ names it); OIDC_INSECURE_HOSTS may serve plain http (loopback).
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "")
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_NAME = os.environ.get("OIDC_NAME", "")
# Entra ID sends no `email_verified`: true trusts the provider's e-mail without it (off by default).
OIDC_TRUST_EMAIL_WITHOUT_VERIFIED_CLAIM = envbool("OIDC_TRUST_EMAIL_WITHOUT_VERIFIED_CLAIM")
OIDC_INSECURE_HOSTS = envlist("OIDC_INSECURE_HOSTS")
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", 10)
OIDC_DISCOVERY_CACHE_SECONDS = envint("OIDC_DISCOVERY_CACHE_SECONDS", 3600)
OIDC_CLOCK_LEEWAY = envint("OIDC_CLOCK_LEEWAY", 60)  # seconds of clock skew allowed on exp and iat
# mozilla-django-oidc's own settings: PKCE (S256), the scopes, and where the provider answers.
OIDC_USE_PKCE = True
OIDC_RP_SCOPES = "openid email profile"
OIDC_AUTHENTICATION_CALLBACK_URL = "signin:sso-callback"
# SCIM 2.0 (django-scim2) at /scim/v2/, with a bearer token issued on /signin/settings/.
SCIM_SERVICE_PROVIDER = {
    "NETLOC": os.environ.get("SCIM_NETLOC", "localhost"),
    "SCHEME": "https" if PRODUCTION else "http",
    "USER_ADAPTER": "signin.scim.ScimUser",
    "GROUP_MODEL": "teams.models.Team",
    "GROUP_ADAPTER": "signin.scim.ScimTeam",
    "USER_FILTER_PARSER": "signin.scim_filters.UserFilter",
    "GROUP_FILTER_PARSER": "signin.scim_filters.TeamFilter",
    "BASE_LOCATION_GETTER": "signin.scim.base_location",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="closedlost SCIM"',
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token issued on the sign-in settings page.",
        }
    ],
}
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "closedlost")
