'use strict';
// Runs an ONNX model with ONNX Runtime's CPU engine on one NPY input and
// writes its first output as NPY: the second oracle of convnet's parity
// tests (internal/orttest), next to PyTorch.
//
//   node scripts/bench/ort_run.js MODEL.onnx IN.npy OUT.npy [--threads T]
//
// Both NPY files are float32, little endian, C order. The session uses the
// benchmark's settings (graph optimisation 'all', sequential execution), so
// the oracle is the engine as it is measured, fused kernels included.

const path = require('path');
const { readNpy, writeNpy } = require('./npy');

function usage(msg) {
  if (msg) console.error(`ort_run: ${msg}`);
  console.error('usage: node ort_run.js MODEL.onnx IN.npy OUT.npy [--threads T]');
  process.exit(2);
}

async function main() {
  const pos = [];
  let threads = 1;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') {
      threads = Number(args[++i]);
      if (!Number.isInteger(threads) || threads < 1) usage('--threads wants a positive integer');
    } else if (args[i].startsWith('-')) {
      usage(`unknown flag ${args[i]}`);
    } else {
      pos.push(args[i]);
    }
  }
  if (pos.length !== 3) usage();
  const [modelPath, inPath, outPath] = pos;

  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.error(`ort_run: onnxruntime-node is not installed: run bash ${path.join(__dirname, 'setup.sh')}`);
    process.exit(3);
  }
  const input = readNpy(inPath);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.shape) };
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  if (out.type !== 'float32') throw new Error(`${modelPath}: output ${session.outputNames[0]} is ${out.type}, want float32`);
  writeNpy(outPath, out.dims.map(Number), out.data);
}

main().catch((e) => {
  console.error(`ort_run: ${e.message || e}`);
  process.exit(1);
});
