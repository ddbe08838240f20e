"""Everything MLflow: runs and experiments, the search's runs, the Model Registry, reports."""
