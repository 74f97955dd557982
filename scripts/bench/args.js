'use strict';
// Command-line flags of the node benchmark scripts: one positional
// MODEL.onnx and "--name value" pairs, each typed as a positive integer
// ('pos'), a non-negative one ('nonneg') or a string ('str'). A bad command
// line prints the problem and the usage and exits with status 2.

function parseArgs(prog, usage, argv, defaults, kinds) {
  const fail = (msg) => {
    console.error(`${prog}: ${msg}`);
    console.error(`usage: ${usage}`);
    process.exit(2);
  };
  const o = { ...defaults };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) {
      pos.push(a);
      continue;
    }
    const name = a.replace(/^--/, '');
    const kind = kinds[name];
    if (!kind) fail(`unknown flag ${a}`);
    if (i + 1 >= argv.length) fail(`${a} wants a value`);
    const s = argv[++i];
    if (kind === 'str') {
      o[name] = s;
      continue;
    }
    const n = Number(s);
    if (!Number.isInteger(n) || n < (kind === 'pos' ? 1 : 0)) {
      fail(`${a} wants a ${kind === 'pos' ? 'positive' : 'non-negative'} integer, got ${s}`);
    }
    o[name] = n;
  }
  if (pos.length !== 1) fail('want exactly one MODEL.onnx');
  o.model = pos[0];
  return o;
}

module.exports = { parseArgs };
