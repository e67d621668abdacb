"""Agent traces from other harnesses (Hermes session exports) and lanekit run files, as AgentRun."""
