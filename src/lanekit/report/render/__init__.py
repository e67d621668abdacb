"""Renderers for the profile: markdown table, plots, launch scripts and harness configs."""
