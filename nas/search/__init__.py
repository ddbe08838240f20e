"""The search: the generation loop, its Optuna study, candidates, Pareto fronts, executors."""
