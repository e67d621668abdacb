"""lanekit.report.render"""
