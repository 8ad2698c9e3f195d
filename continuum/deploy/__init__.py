"""The production deployment's code: the Kafka access plan (topics, SCRAM users, ACLs) derived from the
provider directory, rendered as the Kafka CLI commands the compose init service runs, and the
healthchecks the compose services call. See docs/deploy.md."""
