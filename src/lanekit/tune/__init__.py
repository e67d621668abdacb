"""`lanekit tune`: find the best flags for a lane without ever launching one that cannot fit.

    space.py       the flags per engine and their choices; `apply` a point to a lane spec
    sizing.py      every candidate sized with the engine's memory estimate and the guard's rule
    objective.py   what is optimised (seconds per agent turn by default, tok/s, goodput)
    search.py      Optuna TPE over the space, stop rules, the SQLite study (`--resume`)
    finalists.py   the best few re-measured with repeats, median − k·MAD, doctor + battery
    result.py      the trial history, the winner as a lanes.yaml, the table and the plot
"""

from lanekit.tune.objective import Measurement, Objective, make_objective
from lanekit.tune.result import TrialRow, TuneResult
from lanekit.tune.search import TuneConfig, Tuner
from lanekit.tune.sizing import GuardSizer, SizeVerdict
from lanekit.tune.space import Param, SearchSpace, apply, space_for

__all__ = ["GuardSizer", "Measurement", "Objective", "Param", "SearchSpace", "SizeVerdict", "TrialRow",
           "TuneConfig", "TuneResult", "Tuner", "apply", "make_objective", "space_for"]
