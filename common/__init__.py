"""The bottom layer: what every other package may import, and which imports nothing of ours.

Settings (`common.settings`), the provider directory (`common.directory`) and the names the contract
gives to things: topics, schemas, dead-letter reasons (`common.names`). docs/architecture.md draws the
layers; `make lint` (import-linter) fails when an import goes up.
"""
