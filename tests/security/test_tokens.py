"""Bearer-token verification, including the cache of already verified tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from rhip.fhir.errors import FhirError
from rhip.security import tokens
from rhip.security.context import RequestContext

SECRET = b"s" * 32
CTX = RequestContext(subject="c-1", kind="client", scopes=frozenset({"system/*.read"}))


def test_a_verified_token_is_served_from_the_cache_until_it_expires() -> None:
    token = tokens.issue(SECRET, CTX, ttl=1)
    first = tokens.verify(SECRET, token)
    assert first.subject == "c-1"
    assert tokens.verify(SECRET, token) is first  # cached
    time.sleep(1.1 + (int(time.time()) + 1 - time.time()))  # past "exp" (whole seconds)
    with pytest.raises(FhirError) as err:
        tokens.verify(SECRET, token)
    assert err.value.status == 401


def test_forged_and_foreign_tokens_are_rejected_even_after_a_good_one_was_cached() -> None:
    token = tokens.issue(SECRET, CTX, ttl=60)
    tokens.verify(SECRET, token)
    with pytest.raises(FhirError):
        tokens.verify(b"t" * 32, token)  # same token, other node's key
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(FhirError):
        tokens.verify(SECRET, forged)
    other_audience = jwt.encode({"sub": "x", "aud": "elsewhere", "iss": tokens.ISSUER, "exp": time.time() + 60}, SECRET)
    with pytest.raises(FhirError):
        tokens.verify(SECRET, other_audience)
