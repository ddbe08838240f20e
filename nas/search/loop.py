"""The generation loop: ask a whole generation, measure it (cheap objectives first), train the
feasible on the executor, tell Optuna, promote the front; every step is an event for a listener."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from nas import stopping
from nas.arch.archjson import arch_json, archid
from nas.arch.space import genome_from_params, search_distributions
from nas.config import Config
from nas.evaluation.job import Job, JobTemplate, Outcome, target_scores
from nas.evaluation.measure import measure_cheap
from nas.evaluation.objectives import Objective, constraints, objectives_for
from nas.evaluation.targets import Deployment
from nas.search import promotion
from nas.search.candidates import (
    METRIC_KEYS,
    STATES,
    Candidate,
    load_candidate,
    save_candidate,
    stored_candidate,
)
from nas.search.checks import SearchError
from nas.search.events import SearchListener, Timings
from nas.search.executors import Executor
from nas.search.optuna_internals import replay_ask
from nas.search.pending import PendingOutcomes
from nas.search.study import stale_trials

log = logging.getLogger(__name__)
ASKING = "asking_generation"  # study attribute: the generation whose trials are being asked


@dataclass
class SearchState:
    """One search in the driver: its settings, study, executor and listener, and what it knows."""

    config: Config
    study: optuna.Study
    executor: Executor
    listener: SearchListener
    job_template: JobTemplate
    candidates: dict[int, Candidate] = field(default_factory=dict)
    params: dict[int, dict] = field(default_factory=dict)
    promotions: dict[str, dict] = field(default_factory=dict)  # archid -> promotion record
    pending: PendingOutcomes = field(default_factory=lambda: PendingOutcomes(None, ""))
    deployment: Deployment | None = None  # the deployment targets, where the config has some
    # trials a killed search left running -> the record one had saved before its tell, if any
    adopted: dict[int, Candidate | None] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)
    objectives: tuple[Objective, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.objectives = objectives_for(self.config)

    def by_archid(self) -> dict[str, Candidate]:
        """The first finished, non-duplicate candidate of each archid."""
        seen: dict[str, Candidate] = {}
        for c in self.ordered():
            if c.finished and c.state != "duplicate":
                seen.setdefault(c.archid, c)
        return seen

    def ordered(self) -> list[Candidate]:
        """Every candidate, in trial order."""
        return [self.candidates[n] for n in sorted(self.candidates)]

    def job(self, c: Candidate) -> Job:
        return self.job_template.job(c.trial_number, c.archid, c.arch_json)

    def searched_targets(self, trained: bool = False) -> set[str]:
        """The deployment targets whose measures (with `trained`, whose models' mIoU) are
        objectives of this search."""
        return {o.target for o in self.objectives if o.target and not (trained and o.cheap)}


def _generation_trials(state: SearchState, generation: int) -> list[optuna.Trial]:
    """This generation's trials to evaluate: those a killed search left running, asked again
    in place, then new ones until the generation has population_size trials. Each is sampled
    from its own seed (study.PerTrialSeeds), so a resumed search asks what an uninterrupted
    one would have."""
    study = state.study
    distributions = search_distributions(state.config.space)
    trials = study.get_trials(deepcopy=False)
    asking = study.user_attrs.get(ASKING, 0)  # that of a trial killed before its label
    mine = [t for t in trials if t.user_attrs.get("generation", asking) == generation]
    if len(mine) < state.config.search.population_size and asking != generation:
        study.set_user_attr(ASKING, generation)
    asked = []
    for frozen in (t for t in mine if t.number in state.adopted):
        asked.append(replay_ask(study, frozen, distributions))
    waiting = sum(t.state == TrialState.WAITING for t in mine)
    for _ in range(state.config.search.population_size - len(mine) + waiting):
        asked.append(study.ask(distributions))
    for trial in asked:
        if "generation" not in trial.user_attrs:
            trial.set_user_attr("generation", generation)
    return asked


def _told(o: Objective, c: Candidate) -> float:
    """What Optuna is told of one objective: a cheap measure as it is; a trained score at
    fidelity 0 (nas.search.promotion says why), or `untrained` where there is none."""
    if o.cheap:
        return float(getattr(c, o.name))
    return getattr(c, o.told or o.name) if c.feasible else o.untrained


def _tell(state: SearchState, trial: optuna.Trial, c: Candidate) -> None:
    """Record the candidate in its trial, close its run, tell Optuna, forget its outcome: a
    kill at any point leaves what the next run needs to finish it without training it again."""
    save_candidate(trial, c)
    state.listener.candidate_closed(c)
    state.candidates[c.trial_number] = c
    state.adopted.pop(c.trial_number, None)
    if c.state == "failed":
        state.study.tell(trial, state=TrialState.FAIL)
    else:
        for key, value in constraints(state.config, c).items():
            trial.set_constraint(key, value)
        state.study.tell(trial, [_told(o, c) for o in state.objectives])
    state.pending.drop(c.trial_number)


def _measure(state: SearchState, trial: optuna.Trial, generation: int) -> Candidate:
    """Count and time the untrained network (cheap first); no training runs meanwhile."""
    cfg = state.config
    genome = genome_from_params(trial.params, cfg.space)
    c = Candidate(trial.number, generation, archid(genome), arch_json(genome))
    started = time.perf_counter()
    with stopping.interruptible():
        measures = measure_cheap(genome, cfg.model.num_classes, cfg.model.image_size, cfg.latency)
        timed = state.deployment.measure(measures.onnx_model) if state.deployment else {}
    state.timings.latency_seconds += time.perf_counter() - started
    latency = measures.latency
    c.num_params, c.macs = measures.num_params, measures.macs
    c.latency_ms, c.latency_p90_ms = latency.latency_ms, latency.latency_p90_ms
    c.latency_iqr_ms = latency.latency_iqr_ms
    for name, target in timed.items():
        if target.latency is not None:
            c.measures[f"latency_ms.{name}"] = target.latency.latency_ms
            c.measures[f"latency_p90_ms.{name}"] = target.latency.latency_p90_ms
        elif name in state.searched_targets():  # no objective value: the candidate fails
            c.state, c.error = "failed", f"target {name}: {target.error}"
    state.listener.candidate_started(c, trial.params, latency.as_dict(), timed)
    log.info(
        "generation %d trial %d %s: %.3f ms, %d params",
        generation,
        trial.number,
        c.archid[:8],
        c.latency_ms,
        c.num_params,
    )
    return c


def _finish_trained(
    state: SearchState, trial: optuna.Trial, c: Candidate, outcome: Outcome, kept: bool = False
) -> None:
    """Log and tell one outcome (`kept`: received by a killed search, nas.search.pending)."""
    if outcome.data_error:  # the worker's machine lacks the data: no candidate can train there
        where = f"Ray node {outcome.node}" if outcome.node else outcome.worker or "a worker"
        raise SearchError(
            f"{outcome.error.splitlines()[0]} (on {where}). Every machine that trains needs "
            "data.dataset_dir at the same path, or leave it empty for the built-in synthetic "
            "faces, which each machine makes itself. The search stopped before telling this "
            "candidate; run the same command again once the data is in place."
        )
    if outcome.ok:
        c.state, c.val_miou = "complete", outcome.metrics["val_miou"]
        c.val_miou_f0 = c.val_miou
        c.train_seconds = outcome.metrics["train_seconds"]
        scores = target_scores(state.config, outcome)
        c.measures.update(scores)
        c.measures.update({k.replace("val_miou", "val_miou_f0", 1): v for k, v in scores.items()})
        lost = sorted(state.searched_targets(trained=True) - {k.split(".", 1)[1] for k in scores})
        if lost:  # a searched target's model could not be scored: no objective value
            c.state, c.error = "failed", f"target {lost[0]}: {outcome.int8_error}"
        log.info(
            "trial %d %s %s: val mIoU %.4f in %.1f s",
            c.trial_number,
            c.archid[:8],
            "was trained before the search was killed" if kept else "trained",
            c.val_miou,
            c.train_seconds,
        )
    if not outcome.ok:
        c.state, c.error = "failed", outcome.error
    if c.state == "failed":
        log.warning(
            "candidate %s (trial %d) failed: %s",
            c.archid[:8],
            c.trial_number,
            c.error.splitlines()[0],
        )
    state.listener.candidate_finished(c, outcome)
    _tell(state, trial, c)


def _train(state: SearchState, to_train: dict[int, tuple[optuna.Trial, Candidate]]) -> None:
    if not to_train:
        return
    started = time.perf_counter()
    jobs = []
    for number, (trial, c) in to_train.items():
        kept = state.pending.recover(number, c.archid) if number in state.adopted else None
        if kept is None:
            jobs.append(state.job(c))
        else:
            _finish_trained(state, trial, c, kept, kept=True)
            stopping.check()
    for outcome in state.executor.run(jobs):
        state.pending.keep(outcome)
        trial, c = to_train[outcome.trial_number]
        _finish_trained(state, trial, c, outcome)
        stopping.check()
    state.timings.training_wall_seconds += time.perf_counter() - started


def _tell_duplicate(
    state: SearchState, trial: optuna.Trial, generation: int, original: Candidate
) -> None:
    kind = original.state if original.state in ("failed", "infeasible") else "duplicate"
    c = Candidate(
        trial.number,
        generation,
        original.archid,
        original.arch_json,
        state=kind,
        duplicate_of=original.trial_number,
    )
    for key in METRIC_KEYS:
        setattr(c, key, getattr(original, key))
    c.model_uri, c.error, c.fidelity = original.model_uri, original.error, original.fidelity
    c.int8_model_uri, c.measures = original.int8_model_uri, dict(original.measures)
    state.listener.candidate_finished(c, None, original)
    _tell(state, trial, c)


def _fail_unmeasured(
    state: SearchState, trial: optuna.Trial, generation: int, genome_id: str, err: Exception
) -> None:
    """A candidate that cannot even be built or exported is told as failed, with its run."""
    genome = genome_from_params(trial.params, state.config.space)
    c = Candidate(
        trial.number,
        generation,
        genome_id,
        arch_json(genome),
        state="failed",
        error=f"{type(err).__name__}: {err}",
    )
    log.warning("trial %d %s cannot be measured: %s", trial.number, genome_id[:8], c.error)
    state.listener.candidate_started(c, trial.params, {})
    state.listener.candidate_finished(c)
    _tell(state, trial, c)


def run_generation(state: SearchState, generation: int) -> None:
    """Time every new candidate, tell duplicates and the infeasible, then train the rest."""
    known = state.by_archid()
    to_train: dict[int, tuple[optuna.Trial, Candidate]] = {}
    duplicates = []
    for trial in _generation_trials(state, generation):
        stopping.check()
        state.params[trial.number] = trial.params
        record = state.adopted.get(trial.number)
        if record is not None and record.finished:  # recorded, and killed before its tell
            log.info("trial %d %s: told now, as recorded", trial.number, record.archid[:8])
            _tell(state, trial, record)
            if record.state != "duplicate":
                known.setdefault(record.archid, record)
            continue
        genome_id = archid(genome_from_params(trial.params, state.config.space))
        first = known.get(genome_id) or next(
            (c for _, c in to_train.values() if c.archid == genome_id), None
        )
        if first is not None:
            duplicates.append((trial, first))
            continue
        try:
            c = _measure(state, trial, generation)
        except Exception as err:  # noqa: BLE001 - e.g. a genome that shrinks to 0 channels
            _fail_unmeasured(state, trial, generation, genome_id, err)
            continue
        if c.state == "failed":  # a searched deployment target could not time it
            log.warning("trial %d %s failed: %s", c.trial_number, c.archid[:8], c.error)
            state.listener.candidate_finished(c)
            _tell(state, trial, c)
            known[c.archid] = c
        elif any(v > 0 for v in constraints(state.config, c).values()):
            c.state = "infeasible"
            log.info("trial %d %s is over budget: not trained", c.trial_number, c.archid[:8])
            state.listener.candidate_finished(c)
            _tell(state, trial, c)
            known[c.archid] = c
        else:
            to_train[trial.number] = (trial, c)
    _train(state, to_train)
    for trial, first in duplicates:
        _tell_duplicate(state, trial, generation, state.candidates[first.trial_number])
    stopping.check()
    promote(state, generation)


def _promoted(state: SearchState, c: Candidate, generation: int, outcome: Outcome) -> None:
    """Log a promotion's outcome, keep it in the study, and let its score stand for `c`."""
    record = {
        "fidelity": promotion.PROMOTED,
        "ok": outcome.ok,
        "generation": generation,
        "trial": c.trial_number,
    }
    if outcome.ok:
        record["val_miou"] = outcome.metrics["val_miou"]
        record["measures"] = target_scores(state.config, outcome)
        log.info(
            "trial %d %s promoted: val mIoU %.4f -> %.4f",
            c.trial_number,
            c.archid[:8],
            c.val_miou_f0,
            record["val_miou"],
        )
    else:
        record["error"] = outcome.error.splitlines()[0]
        log.warning(
            "promotion of %s (trial %d) failed: %s", c.archid[:8], c.trial_number, record["error"]
        )
    promoted = dataclasses.replace(c, int8_model_uri="")
    promotion.apply_record(promoted, record)
    record["model_uri"] = state.listener.candidate_promoted(promoted, promotion.PROMOTED, outcome)
    record["int8_model_uri"] = promoted.int8_model_uri  # the listener's, where it logged one
    promotion.save_record(state.study, c.archid, record)
    state.promotions[c.archid] = record
    promotion.apply_record(c, record)


def promote(state: SearchState, generation: int) -> None:
    """Train the candidates on (or near) the partial-training front again at the higher
    fidelity, once per architecture, on the search's executor."""
    cfg = state.config.promotion
    if not cfg.enabled:
        return
    chosen = promotion.choose(state.ordered(), set(state.promotions), cfg, state.objectives)
    if not chosen:
        return
    started = time.perf_counter()
    training = promotion.promotion_training(state.job_template.training, cfg)
    jobs = [dataclasses.replace(state.job(c), training=training) for c in chosen]
    by_trial = {c.trial_number: c for c in chosen}
    for outcome in state.executor.run(jobs):
        _promoted(state, by_trial[outcome.trial_number], generation, outcome)
        stopping.check()
    state.timings.training_wall_seconds += time.perf_counter() - started


def load_finished(state: SearchState) -> None:
    """Candidates and promotions the study already holds (a resumed search does not evaluate
    them again), and the trials a killed search left running, to be finished in place."""
    state.promotions = promotion.load_records(state.study)
    stale = stale_trials(state.study)
    state.adopted = {t.number: stored_candidate(t) for t in stale}
    state.pending.sweep(keep=set(state.adopted))
    if stale:
        log.warning(
            "trials %s were left running by a killed search: they are finished now",
            [t.number for t in stale],
        )
    for trial in state.study.get_trials(deepcopy=False):
        c = load_candidate(trial)
        state.params[trial.number] = trial.params
        if c is not None and trial.state != TrialState.RUNNING:
            state.candidates[trial.number] = c
            if c.state == "complete" and c.archid in state.promotions:
                promotion.apply_record(c, state.promotions[c.archid])


def run_generations(state: SearchState) -> list[Candidate]:
    """Run (or continue) all generations; returns every candidate."""
    load_finished(state)
    for generation in range(state.config.search.generations):
        run_generation(state, generation)
        so_far = [c for c in state.ordered() if c.generation <= generation]
        state.listener.generation_finished(generation, so_far, state.params)
        stopping.check()
    done = state.ordered()
    if not any(c.state == "complete" for c in done):
        counts = {s: sum(c.state == s for c in done) for s in STATES}
        raise SearchError(
            f"no candidate was trained successfully ({counts['failed']} failed, "
            f"{counts['infeasible']} over the latency/parameter budget, "
            f"{counts['duplicate']} duplicates). Raise budgets.max_latency_ms or "
            "budgets.max_params, or look at the failed child runs' 'nas.error' tag."
        )
    return done
