"""Everything that talks to Kafka: the event contract, the provider SDK, the simulator and the lander."""
