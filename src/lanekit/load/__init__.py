"""lanekit.load"""
