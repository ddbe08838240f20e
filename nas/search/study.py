"""The Optuna study behind a search: the sampler, durable storage, the objectives' directions,
and the checks that let a study be resumed."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, NSGAIIISampler, NSGAIISampler, RandomSampler, TPESampler
from optuna.samplers._ga import BaseGASampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.trial import FrozenTrial, TrialState

from nas.config import Config
from nas.errors import UserError
from nas.evaluation.objectives import objectives_for
from nas.paths import sqlite_creation_lock, sqlite_file
from nas.redact import redact_text, redact_url

STORAGE_ENV = "NAS_SEARCH_STORAGE"  # the study's storage when search.storage is empty
RETRY_OF = "retry_of"  # user attribute of a re-run trial: the number of the stale one it replaces


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
    return PerTrialSeeds(_sampler(config), config.search.seed)


def _sampler(config: Config) -> BaseSampler:
    s = config.search
    if s.sampler == "random":
        return RandomSampler(seed=s.seed)
    if s.sampler == "tpe":
        return TPESampler(seed=s.seed, multivariate=True, n_startup_trials=s.population_size)
    genetic = NSGAIIISampler if s.sampler == "nsga3" else NSGAIISampler
    with warnings.catch_warnings():  # NSGA-III is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return genetic(
            population_size=s.population_size,
            mutation_prob=s.mutation_prob or None,
            crossover_prob=s.crossover_prob,
            swapping_prob=s.swapping_prob,
            seed=s.seed,
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
        if study.metric_names is None:  # optuna-dashboard's axis names (a study made before too)
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


def _random_states(obj: object, seen: set[int], depth: int = 0) -> list[np.random.RandomState]:
    """The random streams a sampler draws from, its own and those of the samplers and
    strategies it holds, in attribute order."""
    if id(obj) in seen or depth > 3:
        return []
    seen.add(id(obj))
    if isinstance(obj, LazyRandomState):
        return [obj.rng]
    if isinstance(obj, np.random.RandomState):
        return [obj]
    if not type(obj).__module__.startswith("optuna.") or not hasattr(obj, "__dict__"):
        return []
    return [s for value in vars(obj).values() for s in _random_states(value, seen, depth + 1)]


def reseed_sampler(sampler: BaseSampler, seed: int, trial_number: int) -> None:
    """Restart the sampler's random streams from (`seed`, `trial_number`)."""
    for i, rng in enumerate(_random_states(sampler, set())):
        rng.seed(int(np.random.SeedSequence([seed, trial_number, i]).generate_state(1)[0]))


class PerTrialSeeds(BaseSampler):
    """The configured sampler, drawing each trial's genes from a stream of its own, seeded by
    the search seed and the trial number: a trial draws the same genes whichever process asks
    it and whatever was drawn before, so a search stopped and resumed proposes what the
    uninterrupted one would have. The stream starts once a genetic sampler has chosen the
    generation's parents (a choice made once per generation and kept in the study, which may
    draw to break ties), right before the trial's own draws (`sample_relative` comes first:
    optuna.Trial computes it at the first gene)."""

    def __init__(self, sampler: BaseSampler, seed: int | None):
        self.sampler, self.seed = sampler, seed
        self._parents_chosen: set[tuple[int, int]] = set()  # (study id, generation)

    def _start(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.seed is None:
            return
        if isinstance(self.sampler, BaseGASampler):
            generation = self.sampler.get_trial_generation(study, trial)
            if (study._study_id, generation) not in self._parents_chosen:
                self.sampler.get_parent_population(study, generation)  # chosen once, then kept
                self._parents_chosen.add((study._study_id, generation))
        reseed_sampler(self.sampler, self.seed, trial.number)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._start(study, trial)
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()


def replay_ask(
    study: optuna.Study, frozen: FrozenTrial, distributions: dict[str, BaseDistribution]
) -> optuna.Trial:
    """A stale RUNNING trial asked again in place (after reseed_sampler): the genes it holds are
    kept, and the draws that gave them are taken again, so that the genes a kill in the middle
    of `ask` left unset are drawn now as `Study.ask` would have drawn them. Mirrors
    optuna.Trial._suggest (Optuna is pinned; tests/test_resume.py checks the result)."""
    trial = optuna.Trial(study, frozen._trial_id)
    for name, distribution in distributions.items():
        if (
            name in frozen.params
            and not distribution.single()
            and not trial._is_relative_param(name, distribution)
        ):
            study.sampler.sample_independent(study, frozen, name, distribution)  # the draw taken
        trial._suggest(name, distribution)  # what Study.ask(fixed_distributions) calls
    return trial


def replaced_trials(trials: list[FrozenTrial]) -> set[int]:
    """The numbers of the stale trials that later trials ran again (studies resumed by earlier
    versions of the search, which re-queued them under new numbers)."""
    return {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
