// Registers the project's training kernels on the tfjs wasm backend (missing ones, and faster replacements).
import * as tf from '@tensorflow/tfjs';
// Loaded first so that its own kernel registrations cannot later overwrite ours.
import '@tensorflow/tfjs-backend-wasm';
import { addConfig } from './add.ts';
import { conv2dBackpropFilterConfig } from './conv2d_backprop_filter.ts';
import { conv2dBackpropInputConfig } from './conv2d_backprop_input.ts';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise_conv2d_backprop_filter.ts';
import { depthwiseConv2dBackpropInputConfig } from './depthwise_conv2d_backprop_input.ts';
import { castConfig, identityConfig } from './identity.ts';
import { clearKernelCache, saveOriginalKernel } from './kernel_utils.ts';
import { resizeNearestNeighborGradConfig } from './resize_nearest_neighbor_grad.ts';
import { splitVConfig } from './split_v.ts';
import { sumConfig } from './sum.ts';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum.ts';

/** Every kernel config this module installs for backend 'wasm'. */
export const WASM_TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
  identityConfig,
  castConfig,
  splitVConfig,
  sumConfig,
  addConfig,
  resizeNearestNeighborGradConfig,
];

/**
 * Installs the training kernels for 'wasm', replacing any kernel of the same name (wasm's own
 * Conv2DBackpropInput is ~10× slower than its forward conv) and saving it for the kernels that fall
 * back to it. Idempotent. Works before or after the wasm backend is initialised: the kernels that
 * fall back run the original's setup as their own.
 * Returns the kernel names installed.
 */
export function registerWasmTrainingKernels(): string[] {
  for (const config of WASM_TRAINING_KERNELS) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current === config) continue;
    if (current != null) {
      // Kept for the kernels that hand some inputs back to wasm's own.
      saveOriginalKernel(current);
      tf.unregisterKernel(config.kernelName, config.backendName);
    }
    tf.registerKernel(config);
  }
  clearKernelCache();
  return WASM_TRAINING_KERNELS.map((c) => c.kernelName);
}
