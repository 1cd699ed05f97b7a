"""Per-environment stacks: typed config (`config`), one composition (`compose`), offline plan (`plan`)."""

__all__: list[str] = []
