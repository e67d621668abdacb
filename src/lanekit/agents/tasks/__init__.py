"""The embedded task batteries, as YAML data (`<name>.yaml`); `lanekit.agents.battery` loads them."""
