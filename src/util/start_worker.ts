// Starts a worker thread from a module beside the caller: its compiled .js in a build, its .ts source under tsx.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `base` is the caller's import.meta.url and `name` the worker module's file name without extension. From the .ts
 * sources (tsx), a bootstrap registers tsx inside the worker first, because Node 20 does not carry the loader hooks
 * of the main thread over to workers.
 */
export function startModuleWorker(base: string, name: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, base), options);
  const entry = new URL(`./${name}.ts`, base).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
