"""`make rehearse ENV=<env>`: an environment's plan run in containers on this machine, checked end to end.

    python -m tools.rehearse dev [--image localhost/rampart/serving:rehearsal] [--no-drill]
    python -m tools.rehearse all

Exit status 0 when every check of every cluster passed, 1 naming the failed checks, 2 when the
rehearsal itself could not run (bad argument, the plan unreadable).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path

from platform_facts.project import PROJECT_NAME, STATE_DIR_NAME
from tools.rehearse.run import RehearsalOptions, environments, rehearse_environment
from tools.rehearse.substitutions import format_substitutions
from tools.rehearse.summary import ClusterReport, failed_checks, format_table


def _stop(signum: int, frame: object) -> None:
    # SIGTERM (CI's timeout, `kill`) unwinds like Ctrl-C, so the containers and the network are removed.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="python -m tools.rehearse", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="dev, staging, prod or all")
    parser.add_argument(
        "--image", default=f"localhost/{PROJECT_NAME}/serving:rehearsal",
        help="the serving image built here (make image)",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path(STATE_DIR_NAME) / "rehearsal", help="host side of the volumes"
    )
    parser.add_argument("--no-drill", action="store_true", help="skip the fault drill")
    options = parser.parse_args(argv)
    try:
        chosen = environments(options.environment)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_substitutions(), flush=True)
    reports: list[ClusterReport] = []
    started = time.monotonic()
    for environment in chosen:
        began = time.monotonic()
        try:
            rehearse_environment(
                environment,
                RehearsalOptions(image=options.image, work_dir=options.work_dir.resolve(), drill=not options.no_drill),
                reports,
            )
        except Exception as error:  # a cluster that never came up is a failed check, not the end of the run
            report = ClusterReport(environment, "(start)")
            reports.append(report)
            report.record("environment comes up", False, f"{type(error).__name__}: {error}")
            traceback.print_exc()
        print(f"==> {environment}: {time.monotonic() - began:.0f}s", flush=True)
    print(f"\nRehearsal summary ({time.monotonic() - started:.0f}s in all):\n")
    print(format_table(reports))
    failures = failed_checks(reports)
    if failures:
        print("\nFailed checks:")
        for failure in failures:
            print(f"  - {failure[:600]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
