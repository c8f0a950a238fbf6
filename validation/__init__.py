"""validation: the three matched panels, their statistics, the gate and its reports, run loading and the
training arms (docs/architecture.md; docs/validation.md)."""
