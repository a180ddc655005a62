"""OIDC bearer tokens: a JWT signed by the identity provider, checked against its JWKS, becomes a Principal.

Only asymmetric algorithms are accepted. A JWKS holds public keys, so accepting HS* would let anyone who can read
the JWKS mint tokens with it (the classic key-confusion attack), and `none` is no signature at all. The token's
`alg` must also fit the key it names: key type, curve, and the JWK's own `alg` when it declares one.

Keys come from a file (read at construction, re-read when its mtime changes) or from an http(s) URL (fetched on
first use and cached; refetched when older than `max_age_seconds` so that revoked keys go away, and on an unknown
`kid` at most once per `refetch_interval_seconds` so that key rotation works without letting tokens with made-up
kids hammer the identity provider). A bad token is a 401 (Unauthenticated); a JWKS that cannot be fetched is a
503 (Unavailable): the gateway fails closed and the client retries.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from gateway.domain.identity import Principal, Role
from gateway.errors import Unauthenticated, Unavailable

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA")

# The key type and curves each accepted algorithm needs. PyJWK builds whatever algorithm it is told to, so this
# is checked before a key is built from the token's `alg`.
_KEY_FOR_ALG: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

Jwk = dict[str, Any]


class OidcVerifier:
    """Turns a JWT from the configured identity provider into a Principal. One per process, shared by threads."""

    def __init__(
        self,
        jwks: str,
        *,
        issuer: str | None,
        audience: str | None,
        subject_claim: str = "sub",
        groups_claim: str = "groups",
        role_claim: str = "gateway_role",
        default_role: str = "requester",
        leeway_seconds: int = 30,
        http: httpx.Client | None = None,
        refetch_interval_seconds: float = 60.0,
        max_age_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.default_role = Role(default_role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown default role {default_role!r}; use one of: {allowed}") from None
        self.issuer = issuer or None
        self.audience = audience or None
        self.subject_claim = subject_claim
        self.groups_claim = groups_claim
        self.role_claim = role_claim
        self.leeway = leeway_seconds
        self.refetch_interval = refetch_interval_seconds
        self.max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[Jwk] | None = None
        self._url: str | None = None
        self._path: Path | None = None
        self._mtime: int | None = None
        self._loaded_at = 0.0  # last successful fetch
        self._attempted_at = 0.0  # last fetch attempt, successful or not: throttles unknown-kid refetches
        self._http = http
        self._owns_http = False
        if jwks.startswith(("http://", "https://")):
            self._url = jwks
            if self._http is None:
                self._http = httpx.Client(timeout=httpx.Timeout(5.0))
                self._owns_http = True
        else:
            # A missing or broken file is a configuration error: refuse to start rather than reject every token.
            self._path = Path(jwks)
            try:
                self._read_file()
            except OSError as exc:
                raise ValueError(f"the JWKS file {jwks} could not be read: {exc}") from exc

    def close(self) -> None:
        if self._owns_http and self._http is not None:
            self._http.close()

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(
                f"token algorithm {alg!r} is not accepted; accepted: {', '.join(ALGORITHMS)}"
            )
        kid = header.get("kid")
        key = _build_key(self._find_key(kid), alg, kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={
                    "require": ["exp"],
                    # PyJWT rejects any token carrying `aud` when no audience is given; only check it if configured.
                    "verify_aud": self.audience is not None,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(_describe(exc)) from exc
        return self._principal(claims)

    # -- claims -------------------------------------------------------------------------------------------

    def _principal(self, claims: dict[str, Any]) -> Principal:
        sub = _claim(claims, self.subject_claim)
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated(f"the token has no '{self.subject_claim}' claim naming its subject")
        return Principal(id=sub, role=self._role(claims), groups=self._groups(claims))

    def _groups(self, claims: dict[str, Any]) -> tuple[str, ...]:
        value = _claim(claims, self.groups_claim)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(g, str) for g in value):
            return tuple(value)
        raise Unauthenticated(
            f"the token's '{self.groups_claim}' claim must be a string or a list of strings"
        )

    def _role(self, claims: dict[str, Any]) -> Role:
        value = _claim(claims, self.role_claim)
        candidates = value if isinstance(value, list) else [value]
        roles = {r.value for r in Role}
        # Identity providers often put unrelated roles in the same claim: the first gateway role wins.
        return next((Role(c) for c in candidates if isinstance(c, str) and c in roles), self.default_role)

    # -- keys ---------------------------------------------------------------------------------------------

    def _find_key(self, kid: Any) -> Jwk:
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the token's 'kid' header must be a string")
        with self._lock:
            keys = self._current_keys()
            jwk = _select(keys, kid)
            # An unknown kid may be a freshly rotated key; the interval keeps made-up kids from causing a fetch each.
            if (
                jwk is None
                and kid is not None
                and self._url is not None
                and self._clock() - self._attempted_at >= self.refetch_interval
            ):
                jwk = _select(self._fetch(), kid)
        if jwk is not None:
            return jwk
        if kid is None:
            raise Unauthenticated(
                f"the token has no 'kid' header and the JWKS holds {len(keys)} keys: cannot pick one"
            )
        raise Unauthenticated(f"unknown signing key (kid {kid!r})")

    def _current_keys(self) -> list[Jwk]:
        """Called with the lock held."""
        if self._path is not None:
            try:
                if self._path.stat().st_mtime_ns != self._mtime:
                    self._read_file()
            except (OSError, ValueError) as exc:
                # The file was fine at startup: fail closed until it is fixed (the mtime is kept, so it is retried).
                raise Unavailable(f"the JWKS file {self._path} could not be read: {exc}") from exc
        elif self._keys is None or self._clock() - self._loaded_at >= self.max_age:
            return self._fetch()
        assert self._keys is not None
        return self._keys

    def _read_file(self) -> None:
        assert self._path is not None
        mtime = os.stat(self._path).st_mtime_ns
        try:
            keys = _parse_jwks(json.loads(self._path.read_bytes()))
        except ValueError as exc:
            raise ValueError(f"{self._path} is not a usable JWKS: {exc}") from exc
        # The mtime read before the content: a write landing in between is picked up on the next call.
        self._keys, self._mtime = keys, mtime

    def _fetch(self) -> list[Jwk]:
        """Called with the lock held, so concurrent requests that miss wait for one fetch instead of each making one."""
        assert self._url is not None and self._http is not None
        self._attempted_at = self._clock()
        try:
            resp = self._http.get(self._url, headers={"Accept": "application/json"})
            resp.raise_for_status()
            keys = _parse_jwks(resp.json())
        except httpx.HTTPStatusError as exc:
            raise Unavailable(
                f"the identity provider's JWKS could not be fetched: {self._url} answered "
                f"{exc.response.status_code}"
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(
                f"the identity provider's JWKS could not be fetched from {self._url}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._keys, self._loaded_at = keys, self._attempted_at
        return keys


def _parse_jwks(doc: Any) -> list[Jwk]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("expected a JSON object with a 'keys' list")
    # Public signing keys only: symmetric keys (kty oct) and encryption keys never verify a token.
    keys = [
        k
        for k in doc["keys"]
        if isinstance(k, dict) and k.get("kty") in {"RSA", "EC", "OKP"} and k.get("use", "sig") == "sig"
    ]
    if not keys:
        raise ValueError("it holds no public signing keys (RSA, EC or OKP)")
    return keys


def _select(keys: list[Jwk], kid: str | None) -> Jwk | None:
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((k for k in keys if k.get("kid") == kid), None)


def _build_key(jwk: Jwk, alg: str, kid: str | None) -> jwt.PyJWK:
    kty, curves = _KEY_FOR_ALG[alg]
    if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
        raise Unauthenticated(f"token algorithm {alg} does not fit its signing key (kid {kid!r})")
    if jwk.get("alg", alg) != alg:
        raise Unauthenticated(f"token algorithm {alg} differs from its signing key's ({jwk['alg']})")
    try:
        # Bound to the checked alg: a JWK without `alg` would otherwise default to RS256/ES256 for its type.
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the signing key (kid {kid!r}) is unusable: {exc}") from exc


def _claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name; a dotted name ("realm_access.roles") walks nested objects unless the literal key exists
    (namespaced claims such as "https://example.com/groups" contain dots too)."""
    if name in claims:
        return claims[name]
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _describe(exc: jwt.PyJWTError) -> str:
    # Subclasses before their bases: ExpiredSignatureError and friends are all InvalidTokenErrors.
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid (nbf or iat in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no '{exc.claim}' claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad token signature"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"token algorithm refused: {exc}"
    if isinstance(exc, jwt.InvalidKeyError):
        return f"the signing key is unusable: {exc}"
    if isinstance(exc, jwt.DecodeError):
        return "the bearer token is not a well-formed JWT"
    return f"invalid token: {exc}"
