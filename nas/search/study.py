"""The Optuna study behind a search: the sampler, durable storage, the objectives' directions,
and the checks that let a study be resumed."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import (
    BaseGASampler,
    BaseSampler,
    NSGAIIISampler,
    NSGAIISampler,
    RandomSampler,
    TPESampler,
)
from optuna.trial import FrozenTrial, TrialState

from nas.config import Config, SearchConfig
from nas.errors import UserError
from nas.evaluation.objectives import objectives_for
from nas.paths import sqlite_creation_lock, sqlite_file
from nas.redact import redact_text, redact_url

STORAGE_ENV = "NAS_SEARCH_STORAGE"  # the study's storage when search.storage is empty


def default_storage(tracking_uri: str) -> str:
    """Next to a SQLite MLflow store (optuna.db in the same folder), else ./optuna.db."""
    store = sqlite_file(tracking_uri)
    folder = store.parent if store is not None else Path.cwd()
    return f"sqlite:///{folder / 'optuna.db'}"


def resolve_storage(config: Config, tracking_uri: str) -> str:
    """search.storage, else $NAS_SEARCH_STORAGE, else optuna.db beside a SQLite MLflow store."""
    return config.search.storage or os.environ.get(STORAGE_ENV) or default_storage(tracking_uri)


def make_sampler(config: Config) -> BaseSampler:
    """`search.sampler` (PerTrialSeeds around it): NSGA-II (the search), NSGA-III,
    multi-objective TPE, or uniform random (the baseline); all of them read the trials'
    latency and parameter constraints."""
    return PerTrialSeeds(functools.partial(base_sampler, config.search), config.search.seed)


def base_sampler(s: SearchConfig, seed: int | None) -> BaseSampler:
    """The sampler `search.sampler` names, seeded with `seed`."""
    with warnings.catch_warnings():  # NSGA-III and multivariate TPE are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.sampler == "random":
            return RandomSampler(seed=seed)
        if s.sampler == "tpe":
            return TPESampler(seed=seed, multivariate=True, n_startup_trials=s.population_size)
        genetic = NSGAIIISampler if s.sampler == "nsga3" else NSGAIISampler
        return genetic(
            population_size=s.population_size,
            mutation_prob=s.mutation_prob or None,
            crossover_prob=s.crossover_prob,
            swapping_prob=s.swapping_prob,
            seed=seed,
        )


def _space_signature(config: Config) -> str:
    return json.dumps(
        {
            "space": dataclasses.asdict(config.space),
            "image_size": config.model.image_size,
            "num_classes": config.model.num_classes,
        },
        sort_keys=True,
    )


def open_study(config: Config, storage: str) -> optuna.Study:
    """Create the study, or load it to resume; a study made for another space is refused."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = config.search.study_name
    try:
        with sqlite_creation_lock(storage):
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=make_sampler(config),
                directions=[o.direction for o in objectives_for(config)],
                load_if_exists=True,
            )
    except Exception as err:  # noqa: BLE001 - storage URLs fail in many library-specific ways
        raise UserError(
            f"search.storage (or ${STORAGE_ENV}) = {redact_url(storage)!r}: cannot open the "
            f"Optuna storage ({type(err).__name__}: {redact_text(str(err).splitlines()[0])}). "
            "Expected a reachable SQLAlchemy URL such as sqlite:///optuna.db or "
            "postgresql://user:pass@host/db."
        ) from None
    _check_or_mark(study, config, storage)
    return study


def _check_or_mark(study: optuna.Study, config: Config, storage: str) -> None:
    """Mark a new study with its space and objectives; refuse to resume one made for others."""
    signature = _space_signature(config)
    names = [o.name for o in objectives_for(config)]
    stored = study.user_attrs.get("space_signature")
    with warnings.catch_warnings():  # metric names are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if study.metric_names is None:  # optuna-dashboard's axis names
            study.set_metric_names(names)
    if stored is None:
        study.set_user_attr("space_signature", signature)
        study.set_user_attr("objectives", names)
        return
    where = f"study '{config.search.study_name}' in {redact_url(storage)} was created for"
    if stored != signature:
        raise UserError(
            f"{where} another search space, image size or class count, so its trials cannot be "
            "continued. Pass a new search.study_name (or restore the original space settings)."
        )
    if study.user_attrs.get("objectives") != names:
        raise UserError(
            f"{where} the objectives {study.user_attrs.get('objectives')}, not {names}. Pass a "
            "new search.study_name (or restore search.objectives) to go on."
        )


def stale_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials a killed process left RUNNING (a study has one driver at a time, nas.search.lock):
    the search adopts them as they are, under their own numbers (nas.search.loop)."""
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def trial_seed(seed: int, *key: int) -> int:
    """A seed of its own for `key` under the search seed: (0, trial number) for a trial's draws,
    (1, generation) for a genetic sampler's choice of parents."""
    return int(np.random.SeedSequence([seed, *key]).generate_state(1)[0])


class PerTrialSeeds(BaseSampler):
    """The configured sampler, drawing each trial's genes from a sampler of its own, made with a
    seed of (search seed, trial number): a trial draws the same genes whichever process asks it
    and whatever was drawn before, so a search stopped and resumed proposes what the
    uninterrupted one would have. A genetic sampler's parents are chosen once per generation
    (Optuna keeps the choice in the study) from a seed of that generation, before the trial's
    own draws. `make(seed)` builds the sampler; `self.sampler`, made with the search seed,
    infers the search space and hears before/after each trial."""

    def __init__(self, make: Callable[[int | None], BaseSampler], seed: int | None):
        self.make, self.seed = make, seed
        self.sampler = make(seed)
        self._trials: dict[int, BaseSampler] = {}  # trial number -> its sampler, while asked

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        if self.seed is None:
            return self.sampler
        if trial.number not in self._trials:
            if len(self._trials) > 64:  # trials asked and never told (a failed ask)
                self._trials.clear()
            self._trials[trial.number] = self.make(trial_seed(self.seed, 0, trial.number))
        return self._trials[trial.number]

    def _choose_parents(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.seed is None or not isinstance(self.sampler, BaseGASampler):
            return
        generation = self.sampler.get_trial_generation(study, trial)
        chooser = self.make(trial_seed(self.seed, 1, generation))
        assert isinstance(chooser, BaseGASampler)
        chooser.get_parent_population(study, generation)  # chosen once, then kept in the study

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._choose_parents(study, trial)  # optuna.Trial calls this first, at its creation
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._trials.pop(trial.number, None)
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
