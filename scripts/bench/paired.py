"""Times two engines turn by turn in one window of time, for bench_peers.sh.

  paired.py [--turns T] [--runs R] NAME1 'COMMAND1' NAME2 'COMMAND2'

Starts both commands (each an engine's benchmark in --serve mode: after its
warm-up it prints {"ready":true}, then times N passes for each number N it
reads on stdin and prints {"times_ms":[...]}), then gives them T turns each,
alternately (1, 2, 2, 1, 1, 2, ...), so that neither always runs right after
the other. A turn is untimed passes and then R/T timed passes, rounded up;
the untimed passes last about 100 ms (at least one, at most ten), because
cores that have just been idle, even for a few milliseconds, run the next
~100 ms of work 10-40% slower on a shared host (clocks, caches, the
hypervisor) and an engine's caches hold the other's data. Before the
first turn each engine runs about 300 ms of untimed passes (at most 30):
a fresh convnet process runs its first 5-10 passes 1.5-2x slower than the
rest (ONNX Runtime its first only), on top of the engines' own --warmup. While one engine runs, the other waits on its stdin; after its turn
an engine is given time to go quiet (until its threads use under 2% of a
CPU over 2 ms, at most a second): ONNX Runtime's thread pool keeps
spinning for tens of milliseconds after a run, which would otherwise take
the cores from the engine that follows.

Why: on a shared host the speed of a core moves by 20-60% for seconds to
minutes at a time; engines timed one after the other in separate minutes
see different machines, engines timed in alternating turns of a few passes
see the same one.

Prints one JSON line per engine: its own final result line (which has
ms_median and the rest over every timed pass) with "engine", "turns" and
"times_ms" (the timed passes, in order) set here; or {"engine": NAME,
"error": "..."} when it did not start or failed, in which case the other
engine finishes its turns alone.
"""
import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time


class Engine:
    def __init__(self, name, command):
        self.name = name
        self.error = None
        self.times = []
        self.warm_times = []
        self.proc = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        msg = self.read()
        if msg is not None and not msg.get("ready"):
            self.fail(f"wanted a ready line, got {msg}")

    def read(self):
        """The next JSON line of the engine, or None (and the error set)."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.fail("exited early")
                return None
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    pass

    def fail(self, why):
        if self.error is None:
            self.proc.kill()
            self.proc.wait()
            err = " ".join(self.proc.stderr.read().split())[-300:]
            self.error = f"{why} (exit status {self.proc.returncode}){': ' + err if err else ''}"

    def passes(self, n):
        """Runs n passes and returns their times, or None (the error set)."""
        try:
            self.proc.stdin.write(f"{n}\n")
            self.proc.stdin.flush()
        except OSError as e:
            self.fail(f"stdin: {e}")
            return None
        msg = self.read()
        if msg is None:
            return None
        t = msg.get("times_ms")
        if not isinstance(t, list) or len(t) != n:
            self.fail(f"wanted {n} times, got {msg}")
            return None
        return t

    def warm_up(self):
        """About 300 ms of untimed passes (one to learn how long a pass
        takes, then at most 30)."""
        if self.error:
            return
        t = self.passes(1)
        if t:
            self.warm_times = self.passes(min(30, max(1, math.ceil(300 / max(t[0], 1e-3))))) or t

    def turn(self, n):
        if self.error:
            return
        # The first turn sizes its untimed passes by the warm-up's: the
        # engine has been idle through the other's warm-up, and 3 passes
        # of a 6 ms model left its first timed passes 1.5-2x slow.
        recent = self.times[-n:] or self.warm_times
        warm = 3
        if recent:
            warm = min(10, max(1, math.ceil(100 / max(statistics.median(recent), 1e-3))))
        t = self.passes(n + warm)
        if t:
            self.times.extend(t[warm:])

    def finish(self, turns):
        if self.error:
            return {"engine": self.name, "error": self.error}
        self.proc.stdin.close()
        final = None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    final = json.loads(line)
                except ValueError:
                    pass
        status = self.proc.wait()
        if status != 0 or not isinstance(final, dict) or "ms_median" not in final:
            self.error = None
            self.fail(f"no final result (exit status {status})")
            return {"engine": self.name, "error": self.error}
        # The engine's summary covers the untimed passes of each turn too;
        # summarise the timed passes here, by the same rule.
        final.update(engine=self.name, turns=turns, times_ms=self.times, runs=len(self.times),
                     **summary(self.times))
        return final


def cpu_ns(pid):
    """CPU time used so far by every thread of process pid, in ns."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total


def quiesce(engine, window=0.002, limit=1.0):
    """Waits until engine's threads use under 2% of a CPU over a window."""
    if engine.error:
        return
    end = time.monotonic() + limit
    before = cpu_ns(engine.proc.pid)
    while time.monotonic() < end:
        time.sleep(window)
        now = cpu_ns(engine.proc.pid)
        if now - before < 0.02 * window * 1e9:
            return
        before = now


def percentile(s, q):
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(times):
    s = sorted(times)
    return {"ms_median": percentile(s, 0.5), "ms_p10": percentile(s, 0.1), "ms_p90": percentile(s, 0.9)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--runs", type=int, default=10, help="timed passes per engine, over all turns")
    p.add_argument("name1")
    p.add_argument("command1")
    p.add_argument("name2")
    p.add_argument("command2")
    a = p.parse_args(argv)
    if a.turns < 1 or a.runs < 1:
        p.error("--turns and --runs want positive integers")
    per = math.ceil(a.runs / a.turns)
    engines = [Engine(a.name1, a.command1), Engine(a.name2, a.command2)]
    for e in engines:
        e.warm_up()
        quiesce(e)
    for t in range(a.turns):
        # 1 2, 2 1, 1 2, ...: each engine follows the other as often as not.
        for e in engines if t % 2 == 0 else engines[::-1]:
            e.turn(per)
            quiesce(e)
    for e in engines:
        r = e.finish(a.turns)
        if "ms_median" in r and "img_per_s" in r and r.get("batch"):
            r["img_per_s"] = r["batch"] * 1000 / r["ms_median"]
            if r.get("macs"):
                r["gflops"] = 2 * r["macs"] / (r["ms_median"] / 1e3) / 1e9
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    sys.exit(main())
