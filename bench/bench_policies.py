"""Time to render the prod stack and run the whole policy pack over it, the way `make policy ENV=prod` does.

    .venv/bin/python -m bench.bench_policies [--repeats 5]     (or: make bench)

Target: render + full pack <= 3 s of CPU on the 2-core dev box. The baseline, measured in the same run,
is rendering alone (what `make plan` costs anyway); the ratio says what the policies add on top. Phases:
render (mocks), pack start (subprocess + imports + gRPC ready), configure, analyze (every resource plus the
stack). Each repeat starts a fresh pack, as a CI job does. Besides wall time it reports CPU seconds of
this process and of the pack subprocess (which a busy shared box inflates far less than wall time).
Results go to stdout.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from stacks.config import read_stack_file
from stacks.plan import render
from tools.policy_check import Analyzer
from tools.policy_config import policy_pack_config

CPU_TARGET_S = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--environment", default="prod")
    options = parser.parse_args(argv)
    values, secret_keys = read_stack_file(options.environment)
    render(values, secret_keys, stack=options.environment)  # warm imports, as a second `make` run would be

    phases: dict[str, list[float]] = {"render": [], "start": [], "configure": [], "analyze": [], "total": []}
    cpu: dict[str, list[float]] = {"render": [], "pack (both processes)": []}
    resources = violations = 0
    for _ in range(options.repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        graph = render(values, secret_keys, stack=options.environment)
        rendered, cpu_rendered = time.perf_counter(), time.process_time()
        with Analyzer(options.environment, values, secret_keys) as analyzer:
            up = time.perf_counter()
            analyzer.configure(policy_pack_config(options.environment))
            configured = time.perf_counter()
            violations = len(analyzer.analyze(graph))
            done = time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pack, once it has exited
        child_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
        cpu["render"].append(cpu_rendered - cpu_started)
        cpu["pack (both processes)"].append(time.process_time() - cpu_rendered + child_cpu)
        resources = len(graph.resources)
        for name, value in (
            ("render", rendered - started),
            ("start", up - rendered),
            ("configure", configured - up),
            ("analyze", done - configured),
            ("total", done - started),
        ):
            phases[name].append(value)

    median = {name: statistics.median(values) for name, values in phases.items()}
    print(
        f"policy pack over the {options.environment} stack: {resources} resources, {violations} violation(s), "
        f"median of {options.repeats} runs"
    )
    for name, value in median.items():
        print(f"  {name:<10} {value:6.2f} s wall")
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    for name, value in cpu_median.items():
        print(f"  {name:<22} {value:6.2f} s CPU")
    cpu_total = sum(cpu_median.values())
    print(
        f"  render + pack / render alone = {median['total'] / median['render']:.2f}x; "
        f"pack alone {median['total'] - median['render']:.2f} s wall; CPU total {cpu_total:.2f} s: "
        f"target <= {CPU_TARGET_S:.0f} s CPU {'met' if cpu_total <= CPU_TARGET_S else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
