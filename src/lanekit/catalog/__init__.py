"""lanekit.catalog"""
