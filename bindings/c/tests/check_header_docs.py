#!/usr/bin/env python3
"""Checks that include/sanstcp.h documents every item: each macro, enumeration and its
values, structure and its fields, opaque type and function is directly preceded by a
/** ... */ comment. Prints what is missing; exit status 0 when nothing is."""

import re
import sys


def main() -> int:
    path = sys.argv[1]
    lines = open(path, encoding="utf-8").read().splitlines()
    missing = []
    checked = 0
    in_struct = False
    in_enum = False
    for i, raw in enumerate(lines):
        line = raw.strip()
        item = None
        if re.match(r"#define STCP_\w+", line):
            item = line
        elif re.match(r"(typedef )?struct stcp_\w+ \{", line):
            item, in_struct = line, True
        elif re.match(r"typedef struct stcp_\w+ stcp_\w+;", line):
            item = line  # opaque type
        elif re.match(r"enum stcp_\w+$", line):
            item, in_enum = line, True
        elif line.startswith("}"):
            in_struct = in_enum = False
        elif in_enum and re.match(r"STCP_\w+ = -?\d+,", line):
            item = line
        elif in_struct and line.endswith(";"):
            item = line
        elif re.match(r"^[a-z][\w ]*\**\s*\**stcp_\w+\(", raw) and not raw.startswith("typedef"):
            item = line  # a function prototype
        if item is None:
            continue
        checked += 1
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not prev.endswith("*/"):
            missing.append(f"{path}:{i + 1}: {item}")
    for m in missing:
        print(f"undocumented: {m}")
    print(f"check_header_docs: {checked} items, {len(missing)} undocumented")
    return 1 if missing or checked < 100 else 0


if __name__ == "__main__":
    sys.exit(main())
