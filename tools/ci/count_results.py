#!/usr/bin/env python3
"""Counts Bazel test results from a build-event JSON file.

Usage: count_results.py BEP_JSON EXPECTED_TESTS_FILE
Prints one line per failed or missing test, a line saying how many results
came from the cache (tests whose inputs did not change since they last
passed), then "passed failed" on the last line. A test that was expected (from `bazel query`) but has no summary, for
example because it failed to build, counts as failed: CI must not report a
green run for tests that never ran.
"""
import json
import sys


def main():
    bep_path, expected_path = sys.argv[1], sys.argv[2]
    status = {}
    cached = set()
    with open(bep_path, encoding="utf-8") as bep:
        for line in bep:
            line = line.strip()
            if not line:
                continue
            event = json.loads(line)
            summary_id = event.get("id", {}).get("testSummary")
            if summary_id and "testSummary" in event:
                status[summary_id["label"]] = event["testSummary"].get(
                    "overallStatus", "UNKNOWN")
            result_id = event.get("id", {}).get("testResult")
            result = event.get("testResult")
            if result_id and result and (
                    result.get("cachedLocally") or
                    result.get("executionInfo", {}).get("cachedRemotely")):
                cached.add(result_id["label"])
    with open(expected_path, encoding="utf-8") as expected_file:
        expected = [l.strip() for l in expected_file if l.strip()]
    passed = failed = 0
    for label in expected:
        result = status.get(label, "NOT RUN (failed to build?)")
        if result in ("PASSED", "FLAKY"):
            passed += 1
        else:
            failed += 1
            print(f"  {result}: {label}")
    ran = len([label for label in expected if label not in cached])
    print(f"  results: {ran} run now, {len(expected) - ran} from the cache "
          "(unchanged since they passed; CXSEC_RERUN_TESTS=1 runs them all)")
    print(passed, failed)


if __name__ == "__main__":
    main()
