"""lanekit.lanes.engines"""
