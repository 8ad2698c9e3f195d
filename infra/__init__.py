"""Running the broker: the embedded tansu broker for demos and tests (`infra.embedded_broker`);
the production deployment (Apache Kafka, Airflow, Postgres) is described by files in this folder."""
