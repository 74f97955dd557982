'use strict';
// Where ONNX Runtime's time goes, node by node: the other half of
// convnet's step profile (CONVNET_STEPPROF, infer/stepprof_test.go), for
// finding the layers where one engine beats the other.
//
//   node scripts/bench/ort_profile.js MODEL.onnx [--batch B] [--threads T]
//       [--runs R] [--warmup W] [--top N]
//
// Runs the session as ort_bench.js does, with ORT's profiler on, and
// prints the median kernel time of every node over the timed runs (the
// slowest N first: microseconds, operator, output shape, node name), then
// the totals per operator. ORT names a fused node after its last output,
// so a Conv+ReLU node is called ".../Relu_output_0_nchwc".

const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('./args');
const { sessionOptions } = require('./session');

const USAGE = 'node ort_profile.js MODEL.onnx [--batch B] [--threads T] [--runs R] [--warmup W] [--top N]';

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const o = parseArgs('ort_profile', USAGE, process.argv.slice(2),
    { batch: 1, threads: 2, runs: 30, warmup: 10, top: 30 },
    { batch: 'pos', threads: 'pos', runs: 'pos', warmup: 'pos', top: 'pos' });
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.error(`ort_profile: onnxruntime-node is not installed: run bash ${path.join(__dirname, 'setup.sh')}`);
    process.exit(3);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  try {
    const session = await ort.InferenceSession.create(o.model,
      sessionOptions(o.threads, { enableProfiling: true, profileFilePrefix: path.join(dir, 'p') }));
    const dims = [o.batch, 3, 224, 224];
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
    for (let i = 0; i < o.warmup + o.runs; i++) await session.run(feeds);
    session.endProfiling();
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ORT wrote no profile');
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const nodes = new Map();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      if (!nodes.has(name)) nodes.set(name, { op: e.args.op_name, shape: JSON.stringify(e.args.output_type_shape || ''), us: [] });
      nodes.get(name).us.push(e.dur);
    }
    const rows = [];
    const byOp = new Map();
    let total = 0;
    for (const [name, n] of nodes) {
      const us = median(n.us.slice(o.warmup));
      rows.push({ us, name, op: n.op, shape: n.shape });
      byOp.set(n.op, (byOp.get(n.op) || 0) + us);
      total += us;
    }
    rows.sort((a, b) => b.us - a.us);
    console.log(`${path.basename(o.model)} batch ${o.batch}, ${o.threads} threads: ${(total / 1000).toFixed(2)} ms (sum of node medians over ${o.runs} runs)`);
    for (const r of rows.slice(0, o.top)) {
      console.log(`${(r.us / 1000).toFixed(3).padStart(8)} ms  ${r.op.padEnd(18)} ${r.shape.padEnd(34)} ${r.name}`);
    }
    for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) {
      console.log(`  op ${op.padEnd(20)} ${(us / 1000).toFixed(3).padStart(8)} ms ${(100 * us / total).toFixed(1).padStart(5)}%`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`ort_profile: ${e.message || e}`);
  process.exit(1);
});
