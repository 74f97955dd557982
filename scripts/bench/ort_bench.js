'use strict';
// Times an ONNX model with ONNX Runtime's CPU engine, the speed anchor of
// convnet's benchmarks, and prints one JSON line:
//   {"engine":"onnxruntime","version":"1.30.0","model":...,"batch":B,
//    "threads":T,"runs":R,"ms_median":...,"ms_p10":...,"ms_p90":...,"img_per_s":...}
//
//   node scripts/bench/ort_bench.js MODEL.onnx [--batch B] [--threads T]
//       [--runs R] [--warmup W] [--name NAME] [--serve 1]
//
// --serve 1 is for paired.py, which times two engines turn by turn in one
// window of time: after the warm-up it prints {"ready":true}, then reads
// stdin, one number N per line, times N runs and prints {"times_ms":[...]}
// for each; at the end of stdin it prints the line above over every run it
// timed (--runs is unused). convnet bench --serve speaks the same protocol.
//
// The session is configured as ORT is used for CPU inference in production:
// every graph optimisation (BatchNorm folding, Conv+activation fusion,
// NCHWc layout), sequential execution, T intra-op threads (the calling
// thread included) and one inter-op thread. The input is seeded uniform
// noise in [-1, 1); it is allocated once and reused, like the output.

const path = require('path');
const { summary } = require('./stats');
const { parseArgs } = require('./args');
const { sessionOptions } = require('./session');

const USAGE = 'node ort_bench.js MODEL.onnx [--batch B] [--threads T] [--runs R] [--warmup W] [--name NAME] [--serve 1]';

function options(argv) {
  const o = parseArgs('ort_bench', USAGE, argv,
    { batch: 1, threads: 1, runs: 20, warmup: 5, name: '', serve: 0 },
    { batch: 'pos', threads: 'pos', runs: 'pos', warmup: 'nonneg', name: 'str', serve: 'nonneg' });
  if (!o.name) o.name = path.basename(o.model).replace(/\.onnx$/, '');
  return o;
}

// xorshift32: a seeded generator, so every run feeds the same input.
function fillUniform(a, seed) {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    a[i] = x / 2147483648 - 1;
  }
}

async function main() {
  const o = options(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.error(`ort_bench: onnxruntime-node is not installed: run bash ${path.join(__dirname, 'setup.sh')}`);
    process.exit(3);
  }
  const session = await ort.InferenceSession.create(o.model, sessionOptions(o.threads));
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  // Models exported by export_onnx.py take N x 3 x 224 x 224; read the
  // other dimensions from the graph when it says them.
  let dims = [o.batch, 3, 224, 224];
  if (meta && meta.isTensor && Array.isArray(meta.shape) && meta.shape.length === 4) {
    dims = meta.shape.map((d, i) => (i === 0 ? o.batch : typeof d === 'number' && d > 0 ? d : dims[i]));
  }
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  fillUniform(data, 12345);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };

  for (let i = 0; i < o.warmup; i++) await session.run(feeds);
  const timed = async (n) => {
    const t = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return t;
  };
  let ms = [];
  if (o.serve) {
    console.log(JSON.stringify({ ready: true }));
    const rl = require('readline').createInterface({ input: process.stdin, terminal: false });
    let line = 0;
    for await (const text of rl) {
      line++;
      if (!text.trim()) continue;
      const n = Number(text.trim());
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`--serve: stdin line ${line} is ${JSON.stringify(text)}, want a positive number of runs`);
      }
      const t = await timed(n);
      ms = ms.concat(t);
      console.log(JSON.stringify({ times_ms: t }));
    }
    if (ms.length === 0) throw new Error('--serve: no timed run was asked for');
  } else {
    ms = await timed(o.runs);
  }
  const s = summary(ms);
  const version = ort.env.versions ? ort.env.versions.node || ort.env.versions.common : require('onnxruntime-node/package.json').version;
  console.log(JSON.stringify({
    engine: 'onnxruntime',
    version,
    model: o.name,
    batch: o.batch,
    threads: o.threads,
    runs: ms.length,
    ...s,
    img_per_s: Math.round((o.batch * 1000 / s.ms_median) * 100) / 100,
  }));
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message || e}`);
  process.exit(1);
});
