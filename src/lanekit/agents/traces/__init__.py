"""lanekit.agents.traces"""
