"""The score of bin/mutation's mutmut run: which mutants of the given names were killed, which survived (each named,
unless listed as equivalent, with the reason, in the equivalents file), and the last line "N of M mutants killed (P%)".

Usage: python bin/mutation_score.py EQUIVALENTS_FILE NAME_PATTERN...
"""
from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "caught by type check", "segfault"}  # the tests noticed the mutant


def equivalents(path: Path) -> dict[str, str]:
    """Mutant name -> why it behaves exactly like the original."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def statuses(patterns: list[str]) -> dict[str, str]:
    """Each mutant matching a pattern, with its status from mutmut's results in mutants/."""
    found = {}
    for meta in Path("mutants").rglob("*.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
                found[name] = status_by_exit_code[code]
    return found


def main() -> int:
    justified = equivalents(Path(sys.argv[1]))
    found = statuses(sys.argv[2:])
    counted = {name: status for name, status in found.items() if name not in justified}
    unchecked = sorted(name for name, status in counted.items() if status == "not checked")
    survivors = sorted(name for name, status in counted.items() if status not in KILLED | {"not checked"})
    for name in survivors:
        print(f"survived ({counted[name]}): {name}  (mutmut show {name})")
    if unchecked:
        print(f"{len(unchecked)} mutants were not checked (the run was stopped): they count as not killed")
    killed = sum(status in KILLED for status in counted.values())
    print(f"{len(justified.keys() & found.keys())} equivalent mutants left out (see {sys.argv[1]})")
    print(f"{killed} of {len(counted)} mutants killed ({100 * killed / max(len(counted), 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
