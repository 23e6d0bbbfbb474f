// Adam whose complete state is (iteration, first and second moments), so a restored checkpoint continues bit for bit.
import * as tf from '@tensorflow/tfjs';

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  /** Added to √v̂; 1e-7 like Keras and tfjs on float32 backends. */
  epsilon?: number;
}

/** tfjs's NamedTensor (not re-exported by @tensorflow/tfjs). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

interface Slot {
  originalName: string;
  variable: tf.Variable;
}

/**
 * Adam (Kingma & Ba) with the same update as `tf.train.adam`: m̂ / (√v̂ + ε). tfjs's own Adam keeps
 * β^t in variables that it multiplies every step but rebuilds with `pow` in `setWeights`, so a resumed
 * run drifts from an uninterrupted one by float32 rounding. Here the bias corrections are recomputed
 * from the iteration count each step, which makes `getWeights`/`setWeights` a complete state.
 * `learningRate` may be changed between steps (the schedule does so).
 */
export class ResumableAdam extends tf.Optimizer {
  /** Serialization name (this optimizer is not registered with tfjs; the name is recorded in checkpoints). */
  static get className(): string {
    return 'DistilleryAdam';
  }

  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private firstMoments: Slot[] = [];
  private secondMoments: Slot[] = [];

  constructor(options: AdamOptions) {
    super();
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) {
      throw new RangeError(`Adam betas must be in [0, 1), got ${this.beta1}, ${this.beta2}`);
    }
  }

  /** Gradients are matched to moment slots by position, so always pass variables in the same order. */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
    const t = this.iterations + 1;
    // Bias corrections in float64 from t alone: the same numbers whether or not the run was resumed.
    const correction1 = 1 - this.beta1 ** t;
    const correction2 = 1 - this.beta2 ** t;
    const lr = this.learningRate;
    tf.tidy(() => {
      list.forEach(({ name, tensor: gradient }, i) => {
        const value = tf.engine().registeredVariables[name];
        if (value === undefined) throw new Error(`ResumableAdam: no variable named '${name}'`);
        if (this.firstMoments[i] === undefined) {
          this.firstMoments[i] = { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
          this.secondMoments[i] = { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        }
        if (gradient == null) return;
        const m = this.firstMoments[i].variable;
        const v = this.secondMoments[i].variable;
        const newM = m.mul(this.beta1).add(gradient.mul(1 - this.beta1));
        const newV = v.mul(this.beta2).add(gradient.square().mul(1 - this.beta2));
        m.assign(newM);
        v.assign(newV);
        const step = newM.div(correction1).div(newV.div(correction2).sqrt().add(this.epsilon)).mul(-lr);
        value.assign(value.add(step));
      });
    });
    this.incrementIterations();
  }

  /** [iteration (int32 scalar, a fresh tensor the caller disposes), m₀…mₙ, v₀…vₙ (live variables: do not dispose)]. */
  override async getWeights(): Promise<NamedTensor[]> {
    const slots = [...this.firstMoments, ...this.secondMoments];
    return [await this.saveIterations(), ...slots.map((s) => ({ name: s.originalName, tensor: s.variable }))];
  }

  /** Replaces the whole state; the given tensors are copied, so the caller may dispose them afterwards. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const moments = await this.extractIterations(weightValues);
    if (moments.length % 2 !== 0) throw new Error(`ResumableAdam.setWeights: expected pairs of moments, got ${moments.length} tensors`);
    this.disposeSlots();
    const n = moments.length / 2;
    const slot = (w: NamedTensor): Slot => ({ originalName: w.name, variable: tf.tidy(() => w.tensor.clone().variable(false)) });
    this.firstMoments = moments.slice(0, n).map(slot);
    this.secondMoments = moments.slice(n).map(slot);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  override dispose(): void {
    this.disposeSlots();
    super.dispose();
  }

  private disposeSlots(): void {
    tf.dispose([...this.firstMoments, ...this.secondMoments].map((s) => s.variable));
    this.firstMoments = [];
    this.secondMoments = [];
  }
}
