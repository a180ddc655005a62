"""OIDC bearer tokens: JWTs from an identity provider, checked against its JWKS (file or URL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.adapters.oidc import OidcVerifier
from gateway.app import create_app
from gateway.domain.identity import Principal, Role
from gateway.errors import Unauthenticated, Unavailable
from gateway.settings import Settings
from tests.factories import expensive, request

ISSUER = "https://idp.example.com/realms/acme"
AUDIENCE = "governance-gateway"
JWKS_URL = "https://idp.example.com/realms/acme/certs"


class Key:
    """A private key and its public JWK, as an identity provider would hold them."""

    def __init__(self, private: Any, kid: str, alg: str) -> None:
        self.private, self.kid, self.alg = private, kid, alg
        algo = {"RS": RSAAlgorithm, "PS": RSAAlgorithm, "ES": ECAlgorithm, "Ed": OKPAlgorithm}[alg[:2]]
        self.jwk: dict[str, Any] = {
            **algo.to_jwk(private.public_key(), as_dict=True),
            "kid": kid,
            "use": "sig",
        }

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})


def rsa_key(kid: str, alg: str = "RS256") -> Key:
    return Key(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid, alg)


@pytest.fixture(scope="module")
def key() -> Key:
    return rsa_key("k1")


@pytest.fixture(scope="module")
def rotated() -> Key:
    return rsa_key("k2")


def claims(sub: str = "alice@example.com", ttl: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + ttl, **extra}


def jwks_doc(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.jwk for k in keys]}


def write_jwks(path: Path, *keys: Key) -> Path:
    path.write_text(json.dumps(jwks_doc(*keys)))
    return path


def verifier(jwks: str | Path, **kw: Any) -> OidcVerifier:
    kw.setdefault("issuer", ISSUER)
    kw.setdefault("audience", AUDIENCE)
    return OidcVerifier(str(jwks), **kw)


@pytest.fixture
def file_verifier(tmp_path: Path, key: Key) -> OidcVerifier:
    return verifier(write_jwks(tmp_path / "jwks.json", key))


def refused(v: OidcVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        v.verify(token)
    return info.value.detail


# -- claims and principal ------------------------------------------------------------------------------------


def test_a_good_token_gives_the_principal_with_groups_and_role(file_verifier, key):
    token = key.sign(claims(groups=["finance", "platform"], gateway_role="approver"))

    assert file_verifier.verify(token) == Principal(
        id="alice@example.com", role=Role.APPROVER, groups=("finance", "platform")
    )


def test_without_a_role_claim_the_principal_gets_the_default_role(tmp_path, key):
    token = key.sign(claims())

    assert verifier(write_jwks(tmp_path / "jwks.json", key)).verify(token).role == Role.REQUESTER
    v = verifier(tmp_path / "jwks.json", default_role="auditor")
    assert v.verify(token) == Principal(id="alice@example.com", role=Role.AUDITOR, groups=())


def test_an_unknown_role_value_falls_back_and_a_list_gives_its_first_gateway_role(file_verifier, key):
    assert file_verifier.verify(key.sign(claims(gateway_role="superuser"))).role == Role.REQUESTER
    listed = claims(gateway_role=["offline_access", "auditor", "admin"])
    assert file_verifier.verify(key.sign(listed)).role == Role.AUDITOR


def test_an_unknown_default_role_is_refused_at_construction(tmp_path, key):
    with pytest.raises(ValueError, match="unknown default role 'root'"):
        verifier(write_jwks(tmp_path / "jwks.json", key), default_role="root")


def test_groups_and_role_from_nested_claims(tmp_path, key):
    v = verifier(
        write_jwks(tmp_path / "jwks.json", key),
        groups_claim="realm_access.roles",
        role_claim="resource_access.gateway.roles",
        subject_claim="preferred_username",
    )
    token = key.sign(
        claims(
            preferred_username="alice",
            realm_access={"roles": ["finance", "uma_authorization"]},
            resource_access={"gateway": {"roles": ["approver"]}},
        )
    )

    assert v.verify(token) == Principal(
        id="alice", role=Role.APPROVER, groups=("finance", "uma_authorization")
    )


def test_a_namespaced_claim_with_dots_is_read_as_one_name(tmp_path, key):
    v = verifier(write_jwks(tmp_path / "jwks.json", key), groups_claim="https://acme.example/groups")

    token = key.sign(claims(**{"https://acme.example/groups": "finance"}))

    assert v.verify(token).groups == ("finance",)


def test_a_malformed_groups_claim_or_a_missing_subject_is_refused(file_verifier, key):
    assert "'groups' claim must be a string or a list" in refused(
        file_verifier, key.sign(claims(groups={"finance": True}))
    )
    no_sub = claims()
    del no_sub["sub"]
    assert "no 'sub' claim" in refused(file_verifier, key.sign(no_sub))


# -- registered claims ---------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(file_verifier, key):
    assert refused(file_verifier, key.sign(claims(ttl=-120))) == "token expired"


def test_expiry_allows_the_configured_leeway(tmp_path, key):
    token = key.sign(claims(ttl=-10))

    assert verifier(write_jwks(tmp_path / "jwks.json", key)).verify(token).id == "alice@example.com"
    assert refused(verifier(tmp_path / "jwks.json", leeway_seconds=0), token) == "token expired"


def test_a_token_without_exp_is_refused(file_verifier, key):
    no_exp = claims()
    del no_exp["exp"]

    assert refused(file_verifier, key.sign(no_exp)) == "the token has no 'exp' claim"


def test_wrong_audience_and_wrong_issuer_are_refused(file_verifier, key):
    assert refused(file_verifier, key.sign(claims(aud="another-app"))) == "wrong audience"
    assert refused(file_verifier, key.sign(claims(iss="https://evil.example.com"))) == "wrong issuer"


def test_issuer_and_audience_are_checked_only_when_configured(tmp_path, key):
    v = verifier(write_jwks(tmp_path / "jwks.json", key), issuer=None, audience=None)

    assert v.verify(key.sign(claims(aud="anything", iss="https://other.example"))).id == "alice@example.com"


# -- algorithms and keys -------------------------------------------------------------------------------------


def test_alg_none_is_refused(file_verifier, key):
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": key.kid})

    assert "algorithm 'none' is not accepted" in refused(file_verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(file_verifier, key):
    # The key-confusion attack: HMAC keyed with the public key, which anyone can read from the JWKS.
    # PyJWT refuses to sign with a PEM as HMAC secret, so the token is put together by hand.
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode()) + b"."
    signing_input += b64(json.dumps(claims(gateway_role="admin")).encode())
    token = (signing_input + b"." + b64(hmac.new(pem, signing_input, hashlib.sha256).digest())).decode()

    assert "algorithm 'HS256' is not accepted" in refused(file_verifier, token)


def test_a_forged_signature_is_refused(file_verifier, key):
    impostor = rsa_key(key.kid)

    assert refused(file_verifier, impostor.sign(claims())) == "bad token signature"


def test_an_unknown_kid_is_refused(file_verifier, key, rotated):
    assert refused(file_verifier, rotated.sign(claims())) == "unknown signing key (kid 'k2')"


def test_a_token_without_kid_works_only_with_a_single_key(tmp_path, key, rotated):
    token = jwt.encode(claims(), key.private, algorithm="RS256")

    assert verifier(write_jwks(tmp_path / "one.json", key)).verify(token).id == "alice@example.com"
    assert "no 'kid' header" in refused(verifier(write_jwks(tmp_path / "two.json", key, rotated)), token)


def test_the_token_alg_must_fit_its_key(tmp_path, key):
    declared = {**key.jwk, "alg": "RS512"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [declared]}))
    v = verifier(tmp_path / "jwks.json")

    assert "differs from its signing key's (RS512)" in refused(v, key.sign(claims()))
    token = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256", headers={"kid": key.kid})
    assert "does not fit its signing key" in refused(v, token)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa_key("r", "RS384"),
        lambda: rsa_key("p", "PS256"),
        lambda: Key(ec.generate_private_key(ec.SECP256R1()), "e", "ES256"),
        lambda: Key(ec.generate_private_key(ec.SECP384R1()), "e", "ES384"),
        lambda: Key(ed25519.Ed25519PrivateKey.generate(), "o", "EdDSA"),
    ],
    ids=["RS384", "PS256", "ES256", "ES384", "EdDSA"],
)
def test_every_accepted_algorithm_verifies_with_a_jwk_that_declares_no_alg(tmp_path, make):
    k = make()
    assert "alg" not in k.jwk

    assert verifier(write_jwks(tmp_path / "jwks.json", k)).verify(k.sign(claims())).id == "alice@example.com"


def test_a_jwks_without_public_signing_keys_is_refused_at_construction(tmp_path, key):
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
    with pytest.raises(ValueError, match="no public signing keys"):
        verifier(tmp_path / "jwks.json")
    with pytest.raises(ValueError, match="could not be read"):
        verifier(tmp_path / "missing.json")


def test_a_jwks_file_is_reread_when_its_mtime_changes(tmp_path, key, rotated):
    path = write_jwks(tmp_path / "jwks.json", key)
    v = verifier(path)
    assert v.verify(key.sign(claims())).id == "alice@example.com"

    write_jwks(path, rotated)
    mtime = path.stat().st_mtime_ns + 1_000_000_000  # no sleep: move the mtime on explicitly
    os.utime(path, ns=(mtime, mtime))

    assert v.verify(rotated.sign(claims())).id == "alice@example.com"
    assert refused(v, key.sign(claims())) == "unknown signing key (kid 'k1')"


# -- JWKS from a URL -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_a_jwks_url_is_fetched_once_and_cached(idp, key):
    route = idp.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks_doc(key)))
    v = verifier(JWKS_URL)
    assert route.call_count == 0  # fetched on first use: a down IdP does not stop the gateway starting

    for _ in range(3):
        assert v.verify(key.sign(claims())).id == "alice@example.com"

    assert route.call_count == 1


def test_key_rotation_refetches_once_per_interval(idp, key, rotated):
    route = idp.get(JWKS_URL).mock(
        side_effect=[
            httpx.Response(200, json=jwks_doc(key)),
            httpx.Response(200, json=jwks_doc(key, rotated)),
        ]
    )
    clock = Clock()
    v = verifier(JWKS_URL, clock=clock, refetch_interval_seconds=60)
    assert v.verify(key.sign(claims())).id == "alice@example.com"

    clock.now += 60
    assert v.verify(rotated.sign(claims())).id == "alice@example.com"
    assert route.call_count == 2

    # A made-up kid right after a fetch is refused without asking the identity provider again.
    stranger = Key(key.private, "k-unknown", "RS256")
    clock.now += 59
    assert refused(v, stranger.sign(claims())) == "unknown signing key (kid 'k-unknown')"
    assert route.call_count == 2


def test_the_cached_jwks_is_refetched_when_older_than_max_age(idp, key, rotated):
    route = idp.get(JWKS_URL).mock(
        side_effect=[httpx.Response(200, json=jwks_doc(key)), httpx.Response(200, json=jwks_doc(rotated))]
    )
    clock = Clock()
    v = verifier(JWKS_URL, clock=clock, max_age_seconds=3600)
    assert v.verify(key.sign(claims())).id == "alice@example.com"

    clock.now += 3600

    # The identity provider dropped k1 (revoked): the gateway stops accepting it.
    assert refused(v, key.sign(claims())) == "unknown signing key (kid 'k1')"
    assert route.call_count == 2


def test_concurrent_first_requests_share_one_fetch(idp, key):
    route = idp.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks_doc(key)))
    v = verifier(JWKS_URL)
    token = key.sign(claims())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: v.verify(token).id, range(16)))

    assert results == ["alice@example.com"] * 16
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (httpx.ConnectError("connection refused"), "ConnectError: connection refused"),
        (httpx.Response(502, text="bad gateway"), "answered 502"),
        (httpx.Response(200, text="<html>login</html>"), "JSONDecodeError"),
    ],
    ids=["unreachable", "5xx", "not-json"],
)
def test_a_jwks_url_that_cannot_be_fetched_is_unavailable(idp, key, answer, detail):
    idp.get(JWKS_URL).mock(side_effect=[answer])
    v = verifier(JWKS_URL)

    with pytest.raises(Unavailable) as info:
        v.verify(key.sign(claims()))

    assert info.value.status == 503
    assert info.value.detail.startswith("the identity provider's JWKS could not be fetched")
    assert detail in info.value.detail


def test_a_malformed_token_is_refused_before_any_fetch(idp):
    route = idp.get(JWKS_URL).mock(return_value=httpx.Response(500))

    assert refused(verifier(JWKS_URL), "not.a.jwt") == "the bearer token is not a well-formed JWT"
    assert route.call_count == 0


# -- end to end: the real app with OIDC configured -----------------------------------------------------------
# These need gateway/api/deps.py's principal() to hand non-`ggw_` bearer tokens to services(request).oidc, and
# gateway/app.py to build that OidcVerifier from the oidc_* settings.


@pytest.fixture
def oidc_client(settings: Settings, tmp_path: Path, key: Key) -> Iterator[TestClient]:
    jwks = write_jwks(tmp_path / "idp-jwks.json", key)
    configured = settings.model_copy(
        update={"oidc_jwks": str(jwks), "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE}
    )
    with TestClient(create_app(configured)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_e2e_a_jwt_requester_submits_a_request(oidc_client, key):
    token = key.sign(claims(sub="alice@example.com", groups=["payments"]))

    r = oidc_client.post("/v1/requests", json=request(), headers=bearer(token))

    assert r.status_code == 201, r.text
    assert r.json()["requester"] == "alice@example.com"


def test_e2e_an_expired_jwt_is_a_401_problem(oidc_client, key):
    token = key.sign(claims(ttl=-3600))

    r = oidc_client.post("/v1/requests", json=request(), headers=bearer(token))

    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "token expired"


def test_e2e_a_finance_approver_jwt_approves_anothers_request(oidc_client, key):
    alice = bearer(key.sign(claims(sub="alice@example.com", groups=["payments"])))
    bob = bearer(key.sign(claims(sub="bob@example.com", groups=["finance"], gateway_role="approver")))
    r = oidc_client.post("/v1/requests", json=expensive(), headers=alice)
    assert r.status_code == 201 and r.json()["state"] == "pending_approval", r.text

    r = oidc_client.post(f"/v1/requests/{r.json()['id']}/approvals", json={"verdict": "approve"}, headers=bob)

    assert r.status_code == 201, r.text
    assert [(v["principal"], v["group"]) for v in r.json()["approvals"]] == [("bob@example.com", "finance")]
    assert r.json()["state"] == "succeeded"


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"oidc_issuer": None}, "GATEWAY_OIDC_ISSUER"),
        ({"oidc_audience": None}, "GATEWAY_OIDC_AUDIENCE"),
        ({"oidc_jwks": "http://idp.example.test/jwks.json"}, "https"),
    ],
)
def test_oidc_settings_that_would_let_foreign_tokens_in_are_refused(update, message):
    from pydantic import ValidationError

    base = {
        "oidc_jwks": "https://idp.example.test/jwks.json",
        "oidc_issuer": ISSUER,
        "oidc_audience": AUDIENCE,
    }
    Settings(**base)  # complete: accepted
    with pytest.raises(ValidationError, match=message):
        Settings(**{**base, **update})
