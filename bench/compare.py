#!/usr/bin/env python3
"""Before/after: the same sign-in and refresh scenarios as bench.py, against two keyplane
binaries in alternating rounds (so that the machine's drift affects both alike), on one
backend. Prints each round and the median of each side, and the change in per cent.

    python3 bench/compare.py --before /path/to/old/keyplane --after target/release/keyplane

Used for the audit trail's overhead: `--before` built from the commit before sign-in
events were written (f5e5daf), `--after` from main.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def one_round(binary, duration):
    """Sign-in (saturating the hashing pool) and refresh-with-rotation req/s on a fresh
    SQLite server built from `binary`."""
    workdir = tempfile.mkdtemp(prefix="keyplane-compare-")
    server = bench.Server(binary, "sqlite", None, workdir)
    try:
        key = bench.seed(server, 16)
        hash_threads = os.cpu_count() or 2
        signin = bench.write_script(
            workdir,
            "signin.lua",
            bench.SIGNIN_LUA.format(users=16, key=bench.lua_string(key), password=bench.lua_string(bench.USER_PASSWORD), delay=0),
        )
        s = bench.run_wrk(server, signin, 2, hash_threads * 2, duration)
        sessions = [bench.login(server, key, f"u{i}") for i in range(16)]
        refresh = bench.write_script(
            workdir,
            "refresh.lua",
            bench.REFRESH_LUA.format(tokens=",".join(bench.lua_string(x["refresh_token"]) for x in sessions)),
        )
        r = bench.run_wrk(server, refresh, 16, 16, duration)
        for result in (s, r):
            if result["errors"]:
                raise SystemExit(f"{binary}: {result['errors']} failed requests")
        return s["rps"], r["rps"]
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="8s")
    args = parser.parse_args()
    results = {"before": [], "after": []}
    for n in range(args.rounds):
        # Alternate which side goes first, so that neither always runs on a warmer machine.
        order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
        for side in order:
            signin, refresh = one_round(getattr(args, side), args.duration)
            results[side].append((signin, refresh))
            print(f"round {n + 1} {side:6}  sign-in {signin:7.1f}/s  refresh {refresh:7.1f}/s", flush=True)
    print()
    for i, name in enumerate(["sign-in (_login)", "refresh with rotation (_refresh)"]):
        before = statistics.median(x[i] for x in results["before"])
        after = statistics.median(x[i] for x in results["after"])
        print(f"{name:34} before {before:8.1f}/s  after {after:8.1f}/s  change {100 * (after - before) / before:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
