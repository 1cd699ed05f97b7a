"""Time to render the prod stack and run the whole policy pack over it, the way `make policy ENV=prod` does.

    .venv/bin/python -m bench.bench_policies [--repeats 5]     (or: make bench)

Target (issue 5): render + full pack <= 3 s on the 2-core dev box. The baseline, measured in the same run,
is rendering alone (what `make plan` costs anyway); the ratio says what the policies add on top. Phases:
render (mocks), pack start (subprocess + imports + gRPC ready), configure, analyze (every resource plus the
stack). Each repeat starts a fresh pack, as a CI job does. Results go to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import time

from policies.check import Analyzer
from policies.environments import policy_pack_config
from stacks.config import read_stack_file
from stacks.plan import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--environment", default="prod")
    options = parser.parse_args(argv)
    values, secret_keys = read_stack_file(options.environment)
    render(values, secret_keys, stack=options.environment)  # warm imports, as a second `make` run would be

    phases: dict[str, list[float]] = {"render": [], "start": [], "configure": [], "analyze": [], "total": []}
    resources = violations = 0
    for _ in range(options.repeats):
        started = time.perf_counter()
        graph = render(values, secret_keys, stack=options.environment)
        rendered = time.perf_counter()
        with Analyzer(options.environment, values, secret_keys) as analyzer:
            up = time.perf_counter()
            analyzer.configure(policy_pack_config(options.environment))
            configured = time.perf_counter()
            violations = len(analyzer.analyze(graph))
            done = time.perf_counter()
        resources = len(graph.resources)
        for name, value in (("render", rendered - started), ("start", up - rendered), ("configure", configured - up),
                            ("analyze", done - configured), ("total", done - started)):
            phases[name].append(value)

    median = {name: statistics.median(values) for name, values in phases.items()}
    print(f"policy pack over the {options.environment} stack: {resources} resources, {violations} violation(s), "
          f"median of {options.repeats} runs")
    for name, value in median.items():
        print(f"  {name:<10} {value:6.2f} s")
    print(f"  render + pack / render alone = {median['total'] / median['render']:.2f}x; "
          f"pack alone {median['total'] - median['render']:.2f} s; target total <= 3 s: "
          f"{'met' if median['total'] <= 3.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
