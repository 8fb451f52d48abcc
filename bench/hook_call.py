"""Cost of one hook call through lmscore's plugin manager, next to a plain function call.

Goal: under 5 µs per hook call. Prints figures only (never asserts): timing depends on the
machine, so a regression is something to look at, not a test failure.
"""

from __future__ import annotations

import argparse
import json
import timeit
from pathlib import Path

from lmscore import hookimpl
from lmscore.config import load_settings
from lmscore.plugins import PluginHost

CALLS = 200_000
#: Already quick: `bench/run.py --smoke` runs it as it is.
SMOKE_ARGS: list[str] = []


class SlotPlugin:
    """A cheap implementation, so the figure is the manager's overhead, not the plugin's."""

    @hookimpl
    def lms_template_slot(self, slot, context):
        return None


def plain(lms, slot, context):
    return None


def best_per_call(statement, repeat: int = 5) -> float:
    return min(timeit.repeat(statement, number=CALLS, repeat=repeat)) / CALLS


def main() -> dict:
    settings = load_settings(
        overrides={"secret_key": "bench-secret-key-0123456789abcdef0123456789"}, environ={}
    )
    host = PluginHost(settings, {"slot": SlotPlugin()})
    hook = host.hook.lms_template_slot
    context: dict = {}
    figures = {
        "plain_call_us": best_per_call(lambda: plain(lms=None, slot="x", context=context)) * 1e6,
        "hook_call_us": best_per_call(lambda: hook(lms=None, slot="x", context=context)) * 1e6,
        "collect_us": best_per_call(
            lambda: host.collect_slot(None, "x", context), repeat=3
        ) * 1e6,
    }
    print(f"plain function call        {figures['plain_call_us']:8.3f} µs")
    print(f"hook call (pm.hook.…)      {figures['hook_call_us']:8.3f} µs   goal < 5 µs")
    print(f"collect_slot (per plugin)  {figures['collect_us']:8.3f} µs")
    figures["table"] = [{"scenario": "hook_call", "measure": "one hook call", "unit": "calls/s",
                         "rate_per_s": round(1e6 / figures["hook_call_us"]),
                         "baseline": {"measure": "plain function call",
                                      "rate_per_s": round(1e6 / figures["plain_call_us"])}}]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    result = main()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
