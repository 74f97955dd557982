'use strict';
// Percentiles as numpy.percentile computes them by default (linear
// interpolation between closest ranks), so that ort_bench.js and
// torch_bench.py summarise their timings by the same rule.
function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  return { ms_median: r(percentile(s, 50)), ms_p10: r(percentile(s, 10)), ms_p90: r(percentile(s, 90)) };
}

module.exports = { percentile, summary };
