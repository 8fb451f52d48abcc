"""FSRS as a lmscore scheduler (registered as ``fsrs``), with per-learner parameters."""

from .scheduler import FsrsScheduler

__all__ = ["FsrsScheduler"]
