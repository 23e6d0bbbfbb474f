// A small pool of worker threads that render corpus images in parallel (size 0 renders on the calling thread).
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/start_worker.ts';
import { renderImage, type ImageJob, type RenderedImage } from './render_image.ts';
import type { WorkerRequest, WorkerResponse } from './render_worker.ts';

interface Pending {
  resolve: (image: RenderedImage) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Round-robin dispatch: callers bound the number of jobs in flight (p-limit), so a worker's queue
 * never holds more than a few jobs. A worker that dies fails its pending jobs and the pool.
 */
export class RenderPool {
  private readonly slots: Slot[] = [];
  private next = 0;
  private nextId = 1;
  private failure: Error | undefined;
  private closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  render(job: ImageJob): Promise<RenderedImage> {
    if (this.closed) return Promise.reject(new Error('render pool is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.slots.length === 0) return renderImage(job);
    const slot = this.slots[this.next];
    this.next = (this.next + 1) % this.slots.length;
    const id = this.nextId++;
    return new Promise<RenderedImage>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      const request: WorkerRequest = { id, job };
      slot.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (response: WorkerResponse) => {
      const p = slot.pending.get(response.id);
      if (!p) return;
      slot.pending.delete(response.id);
      if (response.ok) p.resolve({ jpeg: response.jpeg, scene: response.scene });
      else p.reject(new Error(`render worker: ${response.error}`));
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => {
      if (slot.pending.size > 0) fail(new Error(`render worker exited with code ${code} while rendering`));
    });
    return slot;
  }
}

function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'render_worker');
}
