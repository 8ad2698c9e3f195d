"""The FHIR adapter: Gravity SDOH Clinical Care referral Tasks, ServiceRequests and Consents (FHIR R4)
become `referral.requested`, `referral.status_changed`, `consent.granted` and `consent.revoked`
(docs/adapters.md, "FHIR referrals"). `continuum import fhir` runs it."""

from streams.adapters.fhir.command import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
