"""What the search takes from below Optuna's public API is still there in the installed Optuna."""

from __future__ import annotations

import optuna

from nas.search import optuna_internals


def test_the_optuna_internals_the_search_uses_are_there() -> None:
    gone = optuna_internals.missing()
    assert not gone, (
        f"Optuna {optuna.__version__} lacks {gone}, which nas/search/optuna_internals.py uses (it "
        f"was written against Optuna {optuna_internals.PINNED}): a search killed in the middle "
        "of an ask could not resume. Mend that module, or pin Optuna back."
    )
    assert optuna.__version__ == optuna_internals.PINNED, (
        f"Optuna {optuna.__version__} is installed; nas/search/optuna_internals.py was read "
        f"against {optuna_internals.PINNED}. Check that Trial._suggest and "
        "Trial._is_relative_param still draw as that module mirrors, then set PINNED."
    )
