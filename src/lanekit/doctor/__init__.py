"""lanekit.doctor"""
