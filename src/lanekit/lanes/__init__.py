"""lanekit.lanes"""
