"""The participant key (events-v1 section 3): how every provider names a person without naming them."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

_OUTSIDE_A_TO_Z = re.compile(r"[^A-Z]")


def normalize_name(name: str) -> str:
    """NFKD, accents dropped, upper case, everything outside A-Z removed: "O'Brien-Smith" -> "OBRIENSMITH"."""
    decomposed = unicodedata.normalize("NFKD", name)
    unaccented = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _OUTSIDE_A_TO_Z.sub("", unaccented.upper())


def participant_key(secret: str | bytes, last: str, first: str, dob: date | str) -> str:
    """Lowercase hex HMAC-SHA256(secret, "v1|LAST|FIRST|YYYY-MM-DD")."""
    dob_text = dob.isoformat() if isinstance(dob, date) else date.fromisoformat(dob).isoformat()
    message = f"v1|{normalize_name(last)}|{normalize_name(first)}|{dob_text}"
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
