"""lanekit.load.metrics"""
