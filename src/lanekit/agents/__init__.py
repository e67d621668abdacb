"""lanekit.agents"""
