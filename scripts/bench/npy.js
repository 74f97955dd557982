'use strict';
// Minimal NPY reader and writer for the ORT drivers: float32, little
// endian, C order only (what numpy.save and convnet's weights.SaveNpy write
// for our tensors). Anything else is refused with an error that says what
// the file holds, never misread.

const fs = require('fs');

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

// parseHeader reads the Python dict literal of an NPY header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
function parseHeader(text, path) {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new Error(`${path}: malformed NPY header ${JSON.stringify(text.trim())}`);
  }
  if (descr[1] !== '<f4' && descr[1] !== '=f4') {
    throw new Error(`${path}: dtype ${descr[1]}, want <f4 (float32 little endian)`);
  }
  if (fortran[1] !== 'False') {
    throw new Error(`${path}: Fortran-order array, want C order`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  return dims.map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`${path}: bad dimension ${JSON.stringify(s)} in shape`);
    return Number(s);
  });
}

// readNpy returns {shape: number[], data: Float32Array}.
function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${path}: not an NPY file`);
  }
  const major = buf[6];
  let hlen;
  let off;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    off = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new Error(`${path}: truncated NPY header`);
    hlen = buf.readUInt32LE(8);
    off = 12;
  } else {
    throw new Error(`${path}: NPY version ${major}.${buf[7]} is not supported`);
  }
  if (off + hlen > buf.length) throw new Error(`${path}: truncated NPY header`);
  const shape = parseHeader(buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen), path);
  const n = shape.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  if (buf.length - start !== 4 * n) {
    throw new Error(`${path}: ${buf.length - start} data bytes for shape (${shape}), want ${4 * n}`);
  }
  // Copy into a fresh, aligned buffer (the file's data offset need not be
  // a multiple of 4) and decode explicitly as little endian.
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(start + 4 * i);
  return { shape, data };
}

// writeNpy writes a float32 array of the given shape as NPY version 1.0.
function writeNpy(path, shape, data) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`writeNpy ${path}: ${data.length} values for shape (${shape})`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Pad with spaces so that magic + version + length + header + '\n' is a
  // multiple of 64, as numpy does.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * n);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  const start = 10 + header.length;
  for (let i = 0; i < n; i++) out.writeFloatLE(data[i], start + 4 * i);
  const tmp = `${path}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, path);
}

module.exports = { readNpy, writeNpy };
