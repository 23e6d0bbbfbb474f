// Micro-benchmark of the conv training kernels: forward vs our wasm gradients vs wasm's own vs cpu.
// Usage: node --import tsx bench/kernels.ts [--shape 8,64,64,32,64] [--strides 1,2] [--reps 5] [--threads N] [--cpu]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { initBackend, muteCpuBanner } from '../src/backend/backend.ts';

const { values: args } = parseArgs({
  options: {
    shape: { type: 'string', default: '8,64,64,32,64' }, // batch,height,width,inChannels,outChannels (3×3 filter)
    strides: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string' },
    cpu: { type: 'boolean', default: false }, // cpu fwd+bwd: minutes at the default shape
  },
});
const [batch, height, width, inC, outC] = args.shape.split(',').map(Number);
const reps = Number(args.reps);

// wasm's own Conv2DBackpropInput, captured before initBackend replaces it.
void wasmBackend;
const wasmOriginalInput = tf.getKernel(tf.Conv2DBackpropInput, 'wasm');
const info = await initBackend('wasm', args.threads ? { threads: Number(args.threads) } : {});
// Its setup (binding the C function) runs only for kernels registered when the backend starts.
wasmOriginalInput.setupFunc?.(tf.backend());
console.log(`backend wasm: simd=${info.simd} threads=${info.threads}; x=[${batch},${height},${width},${inC}] filter=3×3×${inC}×${outC}, min/median of ${reps}`);

async function time(label: string, n: number, body: () => tf.Tensor | tf.Tensor[], warmUp = true): Promise<number> {
  const samples: number[] = [];
  for (let i = warmUp ? 0 : 1; i <= n; i++) {
    const start = performance.now();
    const out = body();
    const outs = Array.isArray(out) ? out : [out];
    for (const o of outs) await o.data();
    if (i > 0) samples.push(performance.now() - start); // the first run includes one-off setup
    tf.dispose(outs);
  }
  samples.sort((a, b) => a - b);
  const min = samples[0];
  console.log(`  ${label.padEnd(34)} min ${min.toFixed(1).padStart(8)} ms   median ${samples[samples.length >> 1].toFixed(1).padStart(8)} ms`);
  return min;
}

for (const stride of args.strides.split(',').map(Number)) {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([batch, height, width, inC]) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, inC, outC]) as tf.Tensor4D;
  const y0 = tf.conv2d(x, filter, stride, 'same');
  const dy = tf.randomNormal(y0.shape) as tf.Tensor4D;
  y0.dispose();
  const inputAttrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape };
  const filterAttrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: filter.shape };
  console.log(`stride ${stride}: dy=[${dy.shape}]`);
  const fwd = await time('forward conv2d', reps, () => tf.conv2d(x, filter, stride, 'same'));
  const dx = await time('ours: Conv2DBackpropInput', reps, () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, inputAttrs) as tf.Tensor);
  const dw = await time('ours: Conv2DBackpropFilter', reps, () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, filterAttrs) as tf.Tensor);
  const step = await time('fwd+bwd (tf.grads, wasm)', reps, () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same').mul(dy).sum())([x, filter]));
  const orig = await time("wasm's own Conv2DBackpropInput", Math.min(reps, 3), () => {
    const out = wasmOriginalInput.kernelFunc({ inputs: { dy, filter }, backend: tf.backend(), attrs: inputAttrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
    return tf.engine().makeTensorFromTensorInfo(out);
  });
  console.log(`  ratios to forward: input-grad ${(dx / fwd).toFixed(2)}×, filter-grad ${(dw / fwd).toFixed(2)}×, fwd+bwd ${(step / fwd).toFixed(2)}×, wasm's own input-grad ${(orig / fwd).toFixed(2)}×`);
  if (args.cpu) {
    const xv = await x.data();
    const fv = await filter.data();
    const dyv = await dy.data();
    await tf.setBackend('cpu');
    muteCpuBanner();
    const xc = tf.tensor4d(xv, x.shape);
    const fc = tf.tensor4d(fv, filter.shape);
    const dyc = tf.tensor4d(dyv, dy.shape);
    const cpu = await time('cpu: fwd+bwd (tf.grads, 1 run)', 1, () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same').mul(dyc).sum())([xc, fc]), false);
    console.log(`  cpu fwd+bwd / wasm fwd+bwd: ${(cpu / step).toFixed(0)}×`);
    tf.dispose([xc, fc, dyc]);
    await tf.setBackend('wasm');
  }
  tf.dispose([x, filter, dy]);
}
