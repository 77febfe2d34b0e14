"""An OpenID provider on loopback for the tests: discovery, JWKS, authorize, token and userinfo
endpoints (OpenID Connect Core 1.0 and Discovery 1.0 shapes), real RSA keys, PKCE (S256) checked.

`idp.tamper` changes what the next ID token says (claims, or `"_key": "other"` to sign it with a
key the JWKS does not publish); `idp.person` is who signs in."""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "0oa8closedlost"
CLIENT_SECRET = "idp-client-secret-9f2c"


def _b64url_sha256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


class FakeIdp:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "idp-key-1"
        self.person = {
            "sub": "00u1nina",
            "email": "nina.ng@acme.example",
            "email_verified": True,
            "given_name": "Nina",
            "family_name": "Ng",
        }
        self.tamper: dict = {}
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth2/v1/authorize",
            "token_endpoint": f"{self.issuer}/oauth2/v1/token",
            "userinfo_endpoint": f"{self.issuer}/oauth2/v1/userinfo",
            "jwks_uri": f"{self.issuer}/oauth2/v1/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        key = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**key, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}
        claims.update(self.person)
        tamper = dict(self.tamper)
        key = self.other_key if tamper.pop("_key", None) == "other" else self.key
        algorithm = tamper.pop("_alg", "RS256")
        claims.update(tamper)
        claims = {k: v for k, v in claims.items() if v is not None}
        signing_key = CLIENT_SECRET if algorithm.startswith("HS") else key
        return jwt.encode(claims, signing_key, algorithm=algorithm, headers={"kid": self.kid})

    def _handler(idp):  # noqa: N805 - the handler class closes over the provider
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, idp.discovery())
                if url.path == "/oauth2/v1/keys":
                    return self._json(200, idp.jwks())
                if url.path == "/oauth2/v1/userinfo":
                    return self._json(200, dict(idp.person))
                if url.path == "/oauth2/v1/authorize":
                    idp.authorize_requests.append(query)
                    if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    idp.codes[code] = query
                    location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/oauth2/v1/token":
                    return self._json(404, {"error": "not_found"})
                idp.token_requests.append(form)
                started = idp.codes.pop(form.get("code", ""), None)  # a code works once
                if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                    return self._json(401, {"error": "invalid_client"})
                if started is None or form.get("grant_type") != "authorization_code":
                    return self._json(400, {"error": "invalid_grant"})
                if form.get("redirect_uri") != started["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "redirect_uri"})
                verifier = form.get("code_verifier") or ""
                if started.get("code_challenge_method") != "S256" or _b64url_sha256(verifier) != started.get(
                    "code_challenge"
                ):
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(24),
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "scope": started.get("scope", ""),
                        "id_token": idp.id_token(started.get("nonce", "")),
                    },
                )

        return Handler
