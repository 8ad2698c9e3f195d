"""The names the contract gives to things (shared/spec/events-v1.md, section 1): one function each.

Topics, the provider prefix that broker ACLs grant, event sources and dataschemas. Everything that
builds or reads one of these names calls a function here, so the rule is written once.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Every topic a provider may write starts with this and its id (`providers.<id>.`): the ACL prefix.
PROVIDER_TOPIC_PREFIX = "providers."
DEAD_LETTER_TOPIC = "pipeline.dead-letter"
#: Matches a provider's events topic; group 1 is the provider id.
PROVIDER_TOPIC_PATTERN = r"^providers\.([^.]+)\.events$"
SOURCE_PREFIX = "urn:continuum:provider:"
DATASCHEMA_PREFIX = "urn:continuum:schema:"

_PROVIDER_TOPIC = re.compile(PROVIDER_TOPIC_PATTERN)


def provider_topic(provider_id: str) -> str:
    """The topic a provider sends its events to."""
    return f"{PROVIDER_TOPIC_PREFIX}{provider_id}.events"


def feedback_topic(provider_id: str) -> str:
    """The topic (v1.1) where the pipeline tells a provider which of its messages it refused or held."""
    return f"{PROVIDER_TOPIC_PREFIX}{provider_id}.feedback"


def provider_prefix(provider_id: str) -> str:
    """The prefix of every topic of one provider: what its broker ACLs are granted on."""
    return f"{PROVIDER_TOPIC_PREFIX}{provider_id}."


@lru_cache(maxsize=4096)  # one entry per topic; the lander calls it for every message
def provider_of_topic(topic: str) -> str | None:
    """The provider whose events topic this is, or None if it is not a provider's events topic."""
    match = _PROVIDER_TOPIC.fullmatch(topic)
    return match.group(1) if match else None


def is_provider_topic(topic: str) -> bool:
    return provider_of_topic(topic) is not None


def source_for(provider_id: str) -> str:
    return SOURCE_PREFIX + provider_id


def dataschema_for(event_type: str) -> str:
    return f"{DATASCHEMA_PREFIX}{event_type}:1"
