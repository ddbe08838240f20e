"""Pareto front, exact hypervolume and knee point under any number of objectives.

Points are any objects with the objectives' attributes (Candidates, say). Internally each point
is a cost vector in the axis order of `objectives.axes` (cheap objectives first, e.g. latency
then mIoU), with maximised objectives negated, so that lower is better on every axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from nas.evaluation.objectives import DEFAULT_OBJECTIVES, Objective, axes, knee_alias

S = TypeVar("S")
Costs = tuple[float, ...]


def costs(point: Any, objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> Costs:
    """The point's cost vector: sign * value per axis."""
    return tuple(o.sign * getattr(point, o.name) for o in axes(objectives))


def dominates_costs(a: Costs, b: Costs) -> bool:
    """Cost vector a is no worse than b on every axis and better on one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def dominates(a: Any, b: Any, objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> bool:
    """a is at least as good as b in every objective and better in one."""
    return dominates_costs(costs(a, objectives), costs(b, objectives))


def nondominated(vectors: Sequence[Costs]) -> list[int]:
    """Indices of the cost vectors no other dominates, in ascending cost order; of equal vectors
    the first is kept. In that order a vector can only be dominated by an earlier one, and then
    by an earlier one of the front (dominance is transitive), so each vector is compared with
    the front alone: O(n x front) instead of O(n^2)."""
    front: list[int] = []
    for i in sorted(range(len(vectors)), key=vectors.__getitem__):  # stable: the first of equals
        mine = vectors[i]
        if not any(vectors[j] == mine or dominates_costs(vectors[j], mine) for j in front):
            front.append(i)
    return front


def pareto_front(
    points: Sequence[S], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES
) -> list[S]:
    """The non-dominated points sorted by cost vector (for the default objectives: by latency);
    of equal points the first is kept."""
    return [points[i] for i in nondominated([costs(p, objectives) for p in points])]


def _volume(points: list[Costs], ref: Costs) -> float:
    """Volume dominated by cost vectors that all lie below `ref`: slices along the first axis,
    each holding the (N-1)-dimensional volume of the points to its left."""
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    points = sorted(points)
    volume = 0.0
    for i, p in enumerate(points):
        right = points[i + 1][0] if i + 1 < len(points) else ref[0]
        if right > p[0]:
            volume += (right - p[0]) * _volume([q[1:] for q in points[: i + 1]], ref[1:])
    return volume


def hypervolume(
    points: Sequence[Any], *reference: float, objectives: Sequence[Objective] = DEFAULT_OBJECTIVES
) -> float:
    """Volume dominated by the points and bounded by the reference point, given one value per
    axis (for the default objectives: latency ms, then mIoU; the product of their units).
    Points beyond the reference in any objective contribute nothing."""
    ref = tuple(o.sign * r for o, r in zip(axes(objectives), reference, strict=True))
    inside = [costs(p, objectives) for p in pareto_front(points, objectives)]
    inside = [c for c in inside if all(x < r for x, r in zip(c, ref, strict=True))]
    return _volume(inside, ref) if inside else 0.0


def best(points: Sequence[S], objective: Objective) -> S:
    """The first point with the best value of one objective."""
    return min(points, key=lambda p: objective.sign * getattr(p, objective.name))


def aliased(
    front: Sequence[S], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES
) -> dict[str, S]:
    """The front member each registry alias names: the best in each objective and the knee."""
    chosen = {o.alias: best(front, o) for o in objectives}
    chosen[knee_alias(objectives)] = knee(front, objectives)
    return chosen


def _value_per_cost(point: Any, objectives: Sequence[Objective]) -> float:
    """The product of the maximised values over that of the minimised ones (mIoU per ms)."""
    gain, cost = 1.0, 1.0
    for o in axes(objectives):
        if o.sign < 0:
            gain *= getattr(point, o.name)
        else:
            cost *= getattr(point, o.name)
    return gain / max(cost, 1e-9)


def _det(rows: list[list[float]]) -> float:
    """Determinant by expansion along the first row (the matrices here are tiny)."""
    if len(rows) == 1:
        return rows[0][0]
    return sum(
        (-1) ** j * rows[0][j] * _det([row[:j] + row[j + 1 :] for row in rows[1:]])
        for j in range(len(rows))
    )


def knee(front: Sequence[S], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> S:
    """The front point farthest from the hyperplane through the best point of each objective
    (two objectives: the line joining the front's ends), every axis scaled to [0, 1]; where
    those best points do not span a hyperplane, the point nearest the ideal one. With two points
    or fewer: the best value per cost (mIoU per ms)."""
    if len(front) <= 2:
        return max(front, key=lambda p: _value_per_cost(p, objectives))
    order = axes(objectives)
    columns = [[getattr(p, o.name) for p in front] for o in order]
    scaled = list(zip(*(_scale(column) for column in columns), strict=True))
    ends = [
        scaled[min(range(len(front)), key=lambda i: o.sign * c[i])]
        for o, c in zip(order, columns, strict=True)
    ]
    edges = [[x - x0 for x, x0 in zip(end, ends[0], strict=True)] for end in ends[1:]]
    normal = [(-1) ** j * _det([e[:j] + e[j + 1 :] for e in edges]) for j in range(len(order))]
    norm = sum(n * n for n in normal) ** 0.5
    if norm == 0:
        ideal = [0.0 if o.sign > 0 else 1.0 for o in order]
        distance = [-_distance(p, ideal) for p in scaled]
    else:
        distance = [
            abs(sum(n * (x - x0) for n, x, x0 in zip(normal, p, ends[0], strict=True))) / norm
            for p in scaled
        ]
    return front[max(range(len(front)), key=distance.__getitem__)]


def _scale(values: list[float]) -> list[float]:
    """Values mapped to [0, 1] by their range (a constant column maps to 0)."""
    low, span = min(values), (max(values) - min(values)) or 1.0
    return [(v - low) / span for v in values]


def _distance(a: Sequence[float], b: Sequence[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5
