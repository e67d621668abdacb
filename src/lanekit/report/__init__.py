"""lanekit.report"""
