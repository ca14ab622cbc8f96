#!/usr/bin/env python3
"""Instructions per training step, by the Wyrm call each instruction belongs to.

Wyrm's forward and backward passes inline into the caller's step, so callgrind's own
per-function table lumps them together. This script attributes every executed instruction
through the inlining chain (addr2line) to the call the benchmark step made: `set_value`,
`forward<...>`, `Variable::backward`, the optimizer, and so on.

    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --example bench_table
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \\
        --toggle-collect='*wyrm_step*closure*' \\
        target/release/examples/bench_table profile sparse_mf 0.5
    python3 benches/tools/callgrind_phases.py cg.out target/release/examples/bench_table STEPS

STEPS is the step count `bench_table profile` prints. The `--toggle-collect` pattern names
the closure that runs one Wyrm step: `*wyrm_step*closure*` for linreg and sparse-mf,
`*training_step*closure*` for mlp. Needs `addr2line` (binutils). A
short profile also shows one-off work of the first step (e.g. `memset` zeroing optimizer
state), which is not part of the steady-state step.
"""
import collections
import re
import subprocess
import sys


def instruction_costs(path):
    """{(address, function): instructions} from a `--dump-instr=yes` callgrind file."""
    costs = collections.Counter()
    names, current, last, skip_next = {}, None, 0, False
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "fn":
                current = names.get(m.group(2))
            continue
        if line.startswith("calls="):
            # The next cost line is the inclusive cost of a call, not this function's own.
            skip_next = True
            continue
        m = re.match(r"^(0x[0-9a-f]+|\+\d+|-\d+|\*)\s+(?:[-+*]?\d*)(?:\s+(\d+))?$", line)
        if not m:
            continue
        address = m.group(1)
        if address.startswith("0x"):
            last = int(address, 16)
        elif address.startswith("+"):
            last += int(address[1:])
        elif address.startswith("-"):
            last -= int(address[1:])
        if skip_next:
            skip_next = False
            continue
        if m.group(2):
            costs[(last, current)] += int(m.group(2))
    return costs


def inline_names(binary, addresses):
    """{address: [function names, innermost first]} via `addr2line -i`."""
    # A zero address after each real one marks where one address's frames end.
    query = "".join(f"{hex(a)}\n0\n" for a in addresses)
    out = subprocess.run(
        ["addr2line", "-i", "-f", "-C", "-a", "-e", binary],
        input=query,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    blocks, block = [], None
    for line in out.split("\n"):
        if line.startswith("0x"):
            if block is not None:
                blocks.append(block)
            block = []
        elif line:
            block.append(line)
    if block is not None:
        blocks.append(block)
    # Each block alternates function name and location; keep the names.
    return {a: b[0::2] for a, b in zip(addresses, blocks[0::2])}


def main():
    path, binary, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    costs = instruction_costs(path)
    chains = inline_names(binary, sorted({a for a, _ in costs}))
    totals = collections.Counter()
    for (address, function), n in costs.items():
        names = chains.get(address, [])
        if function and "_step" in function and len(names) >= 2:
            # addr2line lists the benchmark closure last; the name before it is the Wyrm
            # call the closure made (inlined into it).
            key = names[-2]
        else:
            key = function or "?"
        key = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", key))
        totals[key[:90]] += n
    print(f"{sum(totals.values()) / steps:8.1f} instructions per step in all")
    for key, n in totals.most_common(25):
        print(f"{n / steps:8.1f} {key}")


if __name__ == "__main__":
    main()
