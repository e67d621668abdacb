"""Typed results (what a lane produced, what a bakeoff concluded) and the pure ranking over them."""

from lanekit.results.models import BakeoffReport, LaneResult, LaneVerdict, Ranking
from lanekit.results.ranking import RankingCfg, rank

__all__ = ["BakeoffReport", "LaneResult", "LaneVerdict", "Ranking", "RankingCfg", "rank"]
