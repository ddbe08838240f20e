"""The local scale-out stack for trials and tests: PostgreSQL, S3, MLflow server, Ray."""
