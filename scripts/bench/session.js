'use strict';
// The ONNX Runtime session options of every benchmark script, so that a
// profile (ort_profile.js) measures what the benchmark (ort_bench.js) does:
// ORT as it is used for CPU inference in production, every graph
// optimisation (BatchNorm folding, Conv+activation fusion, NCHWc layout),
// sequential execution, `threads` intra-op threads (the calling thread
// included) and one inter-op thread. `extra` adds options (profiling).
function sessionOptions(threads, extra = {}) {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    ...extra,
  };
}

module.exports = { sessionOptions };
