"""Hook specifications, one module per capability. Every hook is prefixed ``lms_``.

Conventions for all hooks:
- An implementation may accept any subset of the parameters shown, and must not give them
  defaults (pluggy does not pass defaulted parameters).
- Registration hooks return a list (or None): the core flattens every plugin's lists, refuses
  duplicate names with a start-up error, and never lets a choice depend on plugin order.
- Event hooks are notifications: their return value is ignored; an exception is logged and
  recorded against the event, and never undoes the change that caused it.
"""

import pluggy

PROJECT = "lmscore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


def spec_modules():
    from . import (
        content,
        events,
        grading,
        lifecycle,
        notifications,
        payments,
        recommenders,
        sandboxes,
        scheduling,
        workspaces,
    )

    return [content, scheduling, grading, workspaces, payments, notifications, recommenders,
            sandboxes, lifecycle, events]
