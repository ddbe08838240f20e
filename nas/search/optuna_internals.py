"""The one place where the search reaches below Optuna's public API: a RUNNING trial that a killed
search left half asked is asked again in place, under its own number, drawing the genes it lacks
as `Study.ask` would have. Optuna has no public way to go on with an existing trial, so this
mirrors `optuna.Trial._suggest`. Optuna is pinned (requirements.txt); `missing()` names whatever
of this moved in the installed version, and tests/test_study.py fails with that list."""

from __future__ import annotations

import optuna
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import FrozenTrial

PINNED = "5.0.0"  # the Optuna version these internals were read from
SUGGEST = (optuna.Trial, "_suggest")  # draws and stores one parameter (tools/kill_driver.py)


def missing() -> list[str]:
    """What this module uses and the installed Optuna lacks (empty: all there)."""
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    gone = ["FrozenTrial._trial_id"] if not hasattr(frozen, "_trial_id") else []
    used = ("_suggest", "_is_relative_param")
    gone += [f"Trial.{name}" for name in used if not hasattr(optuna.Trial, name)]
    if not gone:
        try:
            trial = optuna.Trial(study, frozen._trial_id)
            trial._is_relative_param("x", IntDistribution(0, 1))
            trial._suggest("x", IntDistribution(0, 1))
        except (TypeError, AttributeError) as err:
            gone.append(f"optuna.Trial's internals take other arguments ({err})")
    return gone


def replay_ask(
    study: optuna.Study, frozen: FrozenTrial, distributions: dict[str, BaseDistribution]
) -> optuna.Trial:
    """The stale RUNNING trial `frozen` asked again in place: the genes it holds are kept, and
    the sampler's draws that gave them are taken again (and dropped), so that the genes a kill
    in the middle of `ask` left unset are drawn now as `Study.ask(distributions)` would have
    drawn them (tests/test_resume.py checks the result)."""
    trial = optuna.Trial(study, frozen._trial_id)  # computes the relative params, as ask does
    for name, distribution in distributions.items():
        if (
            name in frozen.params
            and not distribution.single()
            and not trial._is_relative_param(name, distribution)
        ):
            study.sampler.sample_independent(study, frozen, name, distribution)  # the draw taken
        trial._suggest(name, distribution)  # what Study.ask(fixed_distributions) calls
    return trial
