// N = max(1, Σ q^θ) over the whole batch: the normaliser shared by ADL, KLD and FDL.
import * as tf from '@tensorflow/tfjs';

/**
 * max(1, Σ mask·q^θ) as a float32 scalar. `mask` is the broadcastable element mask. q is only clipped
 * to [0, 1] here (not to [1e-6, 1 − 1e-6]): N takes no log, and clamping would add 1e-6^θ per
 * background element, which for θ = 1 over ~10^6 elements would shift N by whole units. N depends
 * on the teacher alone, so no gradient reaches it from the student logits.
 */
export function distillationNormaliser(q: tf.Tensor, mask: tf.Tensor, theta: number): tf.Scalar {
  return tf.tidy(() => {
    const qc = tf.clipByValue(tf.cast(q, 'float32'), 0, 1);
    return tf.maximum(tf.sum(tf.mul(tf.pow(qc, theta), mask)), 1);
  });
}
