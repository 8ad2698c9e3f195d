"""Landing: from provider topics to Parquet batches in CONTINUUM_HOME/landing, exactly once."""
