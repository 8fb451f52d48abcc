"""SuperMemo SM-2 as a lmscore scheduler (registered as ``sm2``)."""

from .scheduler import Sm2Scheduler

__all__ = ["Sm2Scheduler"]
