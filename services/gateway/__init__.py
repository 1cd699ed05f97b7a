"""The safety gateway in front of every model."""

__all__: list[str] = []
