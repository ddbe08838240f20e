"""One candidate's measures: the objectives table, cheap measures, training, the pure Job."""
