// log1p that is accurate on every backend: the wasm backend's Log1p kernel is a plain log(1 + x).
import * as tf from '@tensorflow/tfjs';

/*
 * On wasm, tf.log1p(1e-7) is 19% off and tf.log1p(−1e-6) 1.3% off, which is enough to wreck the KL of
 * a confident teacher. The forward pass uses Goldberg's identity log1p(u) = log(w)·u/(w − 1) with
 * w = fl(1 + u), accurate to a few ulp under IEEE float32 arithmetic on any backend; the gradient is
 * supplied directly (1 / (1 + u)) because differentiating the identity would amplify the rounding
 * of w − 1 into the gradient.
 */
const log1pWithGrad = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc, saveFn: tf.Tensor | tf.GradSaveFunc) => {
  const u = input as tf.Tensor;
  const save = saveFn as tf.GradSaveFunc;
  const w = tf.add(u, 1);
  const wMinusOne = tf.sub(w, 1);
  // Where 1 + u rounds to 1, log1p(u) = u to within float32 precision (and the quotient would be 0/0).
  const value = tf.where(tf.equal(wMinusOne, 0), u, tf.mul(tf.log(w), tf.div(u, wMinusOne)));
  save([w]);
  return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.div(dy, saved[0]) };
});

/** ln(1 + u) elementwise for u > −1, to float32 precision on every backend, differentiable. */
export function accurateLog1p(u: tf.Tensor): tf.Tensor {
  return tf.tidy(() => log1pWithGrad(tf.cast(u, 'float32')));
}
