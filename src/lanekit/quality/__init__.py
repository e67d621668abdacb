"""lanekit.quality"""
