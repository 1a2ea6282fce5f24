"""`make bench`: every benchmark, one after another, then a summary of their goals and checks.

Each benchmark's output is shown as it comes. A line that ends with `: MET` or `: MISSED`
(`_common.verdict`) is a goal's or a check's verdict; the summary repeats those lines, under
the name of the benchmark that printed them, and counts them.

A benchmark exits 0 once it has run to its end, whatever its verdicts say; any other exit
status is a crash. The others still run, and this runner exits 1 when any crashed, 0 otherwise:
a MISSED goal alone never fails it.

    .venv/bin/python bench/_run_all.py                     # every bench/[!_]*.py, by name
    .venv/bin/python bench/_run_all.py "bench/ack.py --rounds 1" bench/media.py
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERDICT = re.compile(r":\s+(MET|MISSED)\s*$")


@dataclass
class Ran:
    command: list[str]
    status: int = 0
    seconds: float = 0.0
    verdicts: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.command[0]).name


def run(command: list[str]) -> Ran:
    """Run one benchmark with this Python, its output passed through as it comes."""
    ran = Ran(command)
    print(f"== {' '.join(command)}", flush=True)
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if VERDICT.search(line):
                ran.verdicts.append(line.rstrip())
    ran.status = process.returncode
    ran.seconds = time.monotonic() - started
    return ran


def summary(runs: Sequence[Ran]) -> str:
    lines = ["", "== summary: every goal and check the benchmarks printed"]
    for ran in runs:
        state = "ran" if ran.status == 0 else f"CRASHED (exit status {ran.status})"
        lines.append(f"{ran.name}: {state} in {ran.seconds:.0f} s")
        lines += ran.verdicts or ["   (no goal or check printed)"]
    verdicts = [VERDICT.search(line) for ran in runs for line in ran.verdicts]
    met = sum(1 for found in verdicts if found and found.group(1) == "MET")
    crashed = [ran.name for ran in runs if ran.status != 0]
    lines.append(
        f"{met} MET, {len(verdicts) - met} MISSED; "
        + (f"crashed: {', '.join(crashed)}" if crashed else "none crashed")
    )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    commands = [shlex.split(arg) for arg in argv] or [
        [str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)]
        for path in sorted(HERE.glob("[!_]*.py"))
    ]
    runs = [run(command) for command in commands]
    print(summary(runs), flush=True)
    return 1 if any(ran.status != 0 for ran in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
