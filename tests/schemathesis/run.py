#!/usr/bin/env python3
"""schemathesis over the whole committed OpenAPI document, against the real server on
SQLite: with every check, once as the platform admin (Basic) and once as a tenant's admin
key (a tenant, a key and a user are set up first), the rate limits raised out of the way;
then once more as the admin with the rate limits at their defaults, checking that every
status, header and body the server sends is documented (its 429s included). Exits
non-zero on any failure.

    python3 tests/schemathesis/run.py [--binary target/debug/keyplane] [--as admin,tenant,limited] [-- st options]

Installed by `.ci/run` from PyPI (`pip install schemathesis`). Where a check is a false
positive for an operation it is narrowed in `schemathesis.toml` beside this script, with
the reason.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import bench  # noqa: E402  (the benchmark's server and seeding helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/debug/keyplane"))
    parser.add_argument("--as", dest="who", default="admin,tenant,limited", help="admin, tenant, limited (comma-separated)")
    parser.add_argument("extra", nargs="*", help="more arguments for `st run`")
    args = parser.parse_args()
    failed = False
    for who in args.who.split(","):
        workdir = tempfile.mkdtemp(prefix=f"keyplane-schemathesis-{who}-")
        # Cheap hashes: every Basic request hashes a password, and this is about shapes.
        os.environ.update({"KEYPLANE_HASHING__MEMORY_KIB": "1024", "KEYPLANE_HASHING__ITERATIONS": "1"})
        # `limited`: the rate limits at their defaults, so that most requests get 429.
        server = bench.Server(args.binary, "sqlite", None, workdir, raise_rate_limits=(who != "limited"))
        try:
            key = bench.seed(server, 1, slug="acme")
            checks = []
            if who == "limited":
                # What a throttled client sees must be documented; the checks that probe
                # authentication or required data expect an answer the limiter, rightly,
                # gives before it (429 before any credential is looked at).
                checks = ["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                          "response_headers_conformance,response_schema_conformance"]
            if who in ("admin", "limited"):
                # Tenant-scoped operations need the tenant named by a platform credential.
                auth = ["--auth", f"admin:{bench.ADMIN_PASSWORD}", "--header", "X-Keyplane-Tenant: acme"]
            else:
                auth = ["--header", f"X-API-Key: {key}"]
            cmd = [
                "st", "--no-color", "--config-file", os.path.join(HERE, "schemathesis.toml"),
                "run", os.path.join(ROOT, "openapi/openapi.json"),
                "--url", server.base,
                # A fixed seed keeps CI reproducible; SCHEMATHESIS_SEED=random explores.
                *([] if os.environ.get("SCHEMATHESIS_SEED") == "random" else ["--seed", os.environ.get("SCHEMATHESIS_SEED", "20261124")]),
                # Every check, from the config file (a `--checks` option here would
                # override its per-operation narrowing).
                *auth,
                *checks,
                *args.extra,
            ]
            print(f"=== schemathesis as {who}", flush=True)
            if subprocess.run(cmd, cwd=workdir).returncode != 0:
                failed = True
        finally:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
