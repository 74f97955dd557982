"""Tests of paired.py against two fake engines that speak the --serve
protocol (run by scripts/test.sh: python3 -m unittest discover)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# A fake engine: ready, then for each N on stdin N times of MS ms; at the
# end a result line (with its own, wrong, median, which paired.py replaces).
FAKE = r'''
import json, sys
ms = float(sys.argv[1])
log = open(sys.argv[2], "a") if len(sys.argv) > 2 else None
print(json.dumps({"ready": True}), flush=True)
n_all = 0
for line in sys.stdin:
    n = int(line)
    n_all += n
    if log:
        log.write(f"{n}\n")
        log.flush()
    print(json.dumps({"times_ms": [ms] * n}), flush=True)
print(json.dumps({"model": "m", "batch": 2, "threads": 2, "ms_median": -1, "img_per_s": 0, "runs": n_all}))
'''


def paired(*engines, turns=4, runs=8):
    args = [sys.executable, os.path.join(HERE, "paired.py"), "--turns", str(turns), "--runs", str(runs)]
    for name, cmd in engines:
        args += [name, cmd]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]


class PairedTest(unittest.TestCase):
    def fake(self, ms, log=""):
        return f"{sys.executable} -c '{FAKE}' {ms} {log}"

    def test_turns(self):
        a, b = paired(("a", self.fake(2)), ("b", self.fake(5)))
        self.assertEqual((a["engine"], b["engine"]), ("a", "b"))
        # 4 turns of ceil(8/4) = 2 timed passes each; the untimed are dropped.
        self.assertEqual(len(a["times_ms"]), 8)
        self.assertEqual(a["runs"], 8)
        self.assertEqual(a["ms_median"], 2)
        self.assertEqual(b["ms_median"], 5)
        self.assertAlmostEqual(b["img_per_s"], 400)
        self.assertEqual(a["turns"], 4)

    def test_untimed_passes(self):
        # A 10 ms engine: a pass, then 300 ms of warm-up (30 passes), then
        # every turn, the first too, 100 ms untimed (10 passes) and 2 timed.
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "a.log")
            paired(("a", self.fake(10, log)), ("b", self.fake(1)))
            with open(log) as f:
                self.assertEqual([int(l) for l in f], [1, 30, 12, 12, 12, 12])

    def test_engine_fails(self):
        a, b = paired(("a", "sh -c 'echo broken >&2; exit 3'"), ("b", self.fake(1)))
        self.assertIn("error", a)
        self.assertIn("exit status 3", a["error"])
        self.assertIn("broken", a["error"])
        self.assertEqual(b["ms_median"], 1)


if __name__ == "__main__":
    unittest.main()
