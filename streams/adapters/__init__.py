"""Provider-side adapters: turn what providers' own systems export (HMIS CSV, FHIR referrals) into
contract events and send them through `streams.producer.ProviderClient`. Nothing they read that
identifies a person (names, dates of birth, record numbers) leaves the adapter: docs/adapters.md."""
