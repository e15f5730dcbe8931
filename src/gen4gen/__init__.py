"""gen4gen: multi-concept personalisation datasets from a few photos per concept."""

__version__ = "0.1.0"
