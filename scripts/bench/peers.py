"""Helpers of bench_peers.sh: record one engine's result, and print the table.

  peers.py record ENGINE MODEL BATCH THREADS STATUS [--round R] < engine-stdout >> FILE.jsonl
      Reads an engine's output, keeps its last JSON object line, makes sure it
      names the engine (and the round), and prints it as one line; when STATUS
      is not 0 or no JSON came, prints {"engine":..., "model":..., "batch":...,
      "threads":..., "error": "..."} instead, so the table shows n/a and the
      file says why.

  peers.py table FILE.jsonl [--cpu TEXT] [--load-before X] [--load-after Y]
          [--stat-before LINE --stat-after LINE]
      Prints a markdown table, one row per (model, batch): convnet, ORT and
      PyTorch times (each the median over the rounds of the engine's median),
      convnet's img/s and GFLOP/s, and the ratios ORT/convnet and
      PyTorch/convnet (> 1 means convnet is faster). ORT/convnet is the median
      of the per-round ratios, each round's two engines run turn by turn, with
      the lowest and highest in brackets when there was more than one round.
      The two first lines of /proc/stat, taken before and after, give the
      share of CPU time the hypervisor stole during the run.

convnet bench's JSON carries at least model, batch, threads, ms_median,
img_per_s and gflops; gflops is read as the achieved rate in GFLOP/s (a key
gflop_per_s or gflops_per_s takes precedence when present).
"""
import argparse
import datetime
import json
import statistics
import sys

ENGINES = ("convnet", "onnxruntime", "pytorch")


def record(a):
    text = sys.stdin.read()
    obj = None
    lines = text.splitlines()
    for i in reversed(range(len(lines))):
        line = lines[i].strip()
        if line.startswith("{"):
            # One JSON line, or an indented object from here to the end
            # (convnet bench --format json).
            for candidate in (line, "\n".join(lines[i:])):
                try:
                    obj = json.loads(candidate)
                    break
                except ValueError:
                    continue
            if obj is not None:
                break
    base = {"engine": a.engine, "model": a.model, "batch": a.batch, "threads": a.threads}
    if a.round is not None:
        base["round"] = a.round
    if a.status != 0 or not isinstance(obj, dict) or "ms_median" not in obj:
        tail = " ".join(text.split())[-300:]
        why = f"exit status {a.status}" if a.status != 0 else "no JSON result with ms_median"
        print(json.dumps({**base, "error": f"{why}: {tail}" if tail else why}))
        return
    obj.setdefault("engine", a.engine)
    if a.round is not None:
        obj["round"] = a.round
    print(json.dumps(obj))


def fmt(v, digits=2):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}f}"


def rate(obj):
    for k in ("gflop_per_s", "gflops_per_s", "gflops"):
        if isinstance(obj.get(k), (int, float)):
            return float(obj[k])
    return None


def table(a):
    # rows[(model, batch)][engine] is the list of that engine's results, one
    # per round, in the file's order.
    rows = {}
    order = []
    versions = {}
    errors = []
    with open(a.file) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            key = (obj.get("model"), int(obj.get("batch", 0)))
            if key not in rows:
                rows[key] = {}
                order.append(key)
            eng = obj.get("engine")
            if "error" in obj:
                errors.append((eng, key[0], key[1], obj["error"]))
                continue
            rows[key].setdefault(eng, []).append(obj)
            if obj.get("version"):
                versions[eng] = obj["version"]
    threads = sorted({o.get("threads") for r in rows.values() for l in r.values() for o in l if o.get("threads")})
    nrounds = max((len(l) for r in rows.values() for l in r.values()), default=0)

    out = []
    date = a.date or datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out.append(f"CPU: {a.cpu or 'unknown'}  ")
    out.append(f"Date: {date}; threads: {', '.join(map(str, threads)) or 'n/a'}; rounds: {nrounds}; "
               + "; ".join(f"{e} {versions[e]}" for e in ENGINES if e in versions) + "  ")
    if a.load_before or a.load_after:
        line = f"Load average (1 min) before/after: {a.load_before or '?'} / {a.load_after or '?'}"
        if (st := steal(a.stat_before, a.stat_after)) is not None:
            line += f"; CPU time stolen by the hypervisor during the run: {st:.1f}%"
        out.append(line + "  ")
    out.append("Times are medians in ms (over the rounds, of each round's median); ORT/convnet is the median of the "
               "per-round ratios [lowest-highest]; ratio = peer ms / convnet ms (> 1 means convnet is faster).")
    out.append("")
    out.append("| model | batch | convnet ms | ORT ms | PyTorch ms | convnet img/s | convnet GFLOP/s | ORT/convnet | PyTorch/convnet |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in order:
        r = rows[key]
        med = {e: statistics.median(o["ms_median"] for o in r[e]) if r.get(e) else None for e in ENGINES}
        c, o, p = (med[e] for e in ENGINES)
        # The convnet result closest to its median gives img/s and GFLOP/s.
        cv = min(r.get("convnet", []), key=lambda x: abs(x["ms_median"] - c), default={})
        out.append(f"| {key[0]} | {key[1]} | {fmt(c)} | {fmt(o)} | {fmt(p)} | "
                   f"{fmt(cv.get('img_per_s'))} | {fmt(rate(cv)) if cv else 'n/a'} | "
                   f"{paired_ratio(r.get('onnxruntime', []), r.get('convnet', []))} | "
                   f"{f'{p / c:.2f}' if p and c else 'n/a'} |")
    if errors:
        out.append("")
        out.append("Not measured:")
        # One line per engine and reason: a missing engine fails every row.
        seen = {}
        for eng, model, batch, why in errors:
            seen.setdefault((eng, why), []).append(f"{model}/{batch}")
        for (eng, why), where in seen.items():
            rows_txt = "every row" if len(where) == len(order) else ", ".join(where)
            out.append(f"- {eng} ({rows_txt}): {why}")
    print("\n".join(out))


def steal(before, after):
    """The percentage of CPU time stolen between two first lines of
    /proc/stat ("cpu user nice system idle iowait irq softirq steal ..."),
    or None."""
    try:
        b = [int(x) for x in before.split()[1:9]]
        e = [int(x) for x in after.split()[1:9]]
    except (AttributeError, ValueError):
        return None
    if len(b) < 8 or len(e) < 8:
        return None
    total = sum(e) - sum(b)
    return 100 * (e[7] - b[7]) / total if total > 0 else None


def paired_ratio(peer, conv):
    """The median of peer/convnet over the rounds both engines ran (paired by
    round, or by position for results without one), with the range."""
    by_round = lambda l: {o.get("round", i): o["ms_median"] for i, o in enumerate(l)}  # noqa: E731
    pr, cr = by_round(peer), by_round(conv)
    ratios = sorted(pr[k] / cr[k] for k in pr if k in cr and cr[k] > 0)
    if not ratios:
        return "n/a"
    text = f"{statistics.median(ratios):.2f}"
    if len(ratios) > 1:
        text += f" [{ratios[0]:.2f}-{ratios[-1]:.2f}]"
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("engine", choices=ENGINES)
    r.add_argument("model")
    r.add_argument("batch", type=int)
    r.add_argument("threads", type=int)
    r.add_argument("status", type=int)
    r.add_argument("--round", type=int)
    t = sub.add_parser("table")
    t.add_argument("file")
    t.add_argument("--cpu")
    t.add_argument("--date")
    t.add_argument("--load-before")
    t.add_argument("--load-after")
    t.add_argument("--stat-before")
    t.add_argument("--stat-after")
    a = p.parse_args(argv)
    (record if a.cmd == "record" else table)(a)


if __name__ == "__main__":
    sys.exit(main())
