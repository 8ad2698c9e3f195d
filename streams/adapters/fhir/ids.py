"""Deterministic ids: the same FHIR resource always becomes the same event id, referral id and consent id.

Ids are UUID version 5 in a namespace derived from the network's linkage secret, so re-importing a file
(or a later export that repeats it) sends events the warehouse already holds (`source` + `id`), and
nobody without the secret (the warehouse included) can test a guessed FHIR resource id against them.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

_NAMESPACE_LABEL = b"continuum fhir adapter ids v1"


def id_namespace(linkage_secret: str) -> uuid.UUID:
    """The UUID namespace of every id this adapter makes, keyed by the linkage secret."""
    digest = hmac.new(linkage_secret.encode(), _NAMESPACE_LABEL, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16])


def deterministic_id(namespace: uuid.UUID, *parts: str) -> str:
    """uuid5 of the parts joined by `|`: the same parts give the same id, any other parts another."""
    return str(uuid.uuid5(namespace, "|".join(parts)))
