// Request/response over a worker thread: every request answered exactly once, a dead worker fails them all.
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { MessagePort, Transferable, Worker } from 'node:worker_threads';
import { fromWireError, toWireError, type WireError } from './wire_error.ts';

/**
 * What a worker posts: a reply to request `id`; `failed` with the error of request `id` (no id: of the worker as a
 * whole); `closed` as the last reply. `numTensors` is the worker's tensor count after it handled the request.
 */
export interface ChannelReply {
  type: string;
  id?: number;
  error?: WireError;
  numTensors?: number;
}

interface Pending {
  resolve: (reply: ChannelReply) => void;
  reject: (error: Error) => void;
}

/**
 * The parent's side of a worker that answers numbered requests in order (`serveInOrder` on its side). `name` prefixes
 * every error ("teacher inference thread: …"). After the worker failed or exited, every outstanding and later request
 * rejects with that failure.
 */
export class WorkerChannel<Request extends { type: string }> {
  /** Tensors alive in the worker, as its last reply said (a leak there would grow this). */
  workerTensors = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private onClosed: ((numTensors: number) => void) | undefined;
  private readonly busyFrom: EventLoopUtilization;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
  ) {
    this.busyFrom = worker.performance.eventLoopUtilization();
  }

  /**
   * Posts `request` (its first message, e.g. loading a model) and waits for the worker's first reply: a channel when
   * that reply is `expected`, else the worker is ended and its error thrown.
   */
  static async open<Request extends { type: string }>(worker: Worker, name: string, request: Request, expected: string, transfer: Transferable[] = []): Promise<{ channel: WorkerChannel<Request>; reply: ChannelReply }> {
    const opened = new Promise<ChannelReply>((resolve, reject) => {
      const onMessage = (m: ChannelReply): void => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (m.type === expected) resolve(m);
        else if (m.type === 'failed' && m.error !== undefined) reject(fromWireError(m.error, name));
        else reject(new Error(`${name}: unexpected '${m.type}' while opening`));
      };
      const onExit = (code: number): void => reject(new Error(`${name} exited with code ${code} while opening`));
      worker.once('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', onExit);
    });
    let reply: ChannelReply;
    try {
      worker.postMessage(request, transfer);
      reply = await opened;
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    const channel = new WorkerChannel<Request>(worker, name);
    channel.listen();
    return { channel, reply };
  }

  /** Share of the time since opening that the worker's event loop was busy. */
  busy(): number {
    return this.worker.performance.eventLoopUtilization(this.busyFrom).utilization;
  }

  /** Posts the request `make(id)` and resolves with the worker's reply to it; a `failed` reply rejects. */
  request(make: (id: number) => Request, transfer: Transferable[] = []): Promise<ChannelReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error(`${this.name} is closed`));
    const id = this.nextId++;
    return new Promise<ChannelReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage(make(id), transfer);
      } catch (error) {
        // Not sent (e.g. not cloneable): nothing will answer it.
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Posts `request` (the worker's close message), waits for its `closed` reply (after every earlier request) and the exit. */
  close(request: Request): Promise<void> {
    this.closing ??= this.shutdown(request);
    return this.closing;
  }

  private async shutdown(request: Request): Promise<void> {
    if (this.failure) {
      await this.worker.terminate();
      return;
    }
    const closed = new Promise<number>((resolve) => (this.onClosed = resolve));
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage(request);
    const outcome = await Promise.race([closed, exited.then(() => undefined)]);
    if (outcome !== undefined) this.workerTensors = outcome;
    await exited;
  }

  private listen(): void {
    this.worker.on('message', (m: ChannelReply) => {
      if (m.type === 'closed') {
        this.onClosed?.(m.numTensors ?? 0);
        return;
      }
      if (m.type === 'failed' && m.id === undefined) return this.fail(fromWireError(m.error ?? { name: 'Error', message: 'failed' }, this.name));
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (p === undefined || m.id === undefined) return;
      this.pending.delete(m.id);
      if (m.type === 'failed') return p.reject(fromWireError(m.error ?? { name: 'Error', message: 'failed' }, this.name));
      if (m.numTensors !== undefined) this.workerTensors = m.numTensors;
      p.resolve(m);
    });
    this.worker.on('error', (error) => this.fail(error instanceof Error ? error : new Error(String(error))));
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0 || (this.closing === undefined && this.failure === undefined)) this.fail(new Error(`${this.name} exited with code ${code}`));
    });
  }

  /** The worker is gone or broken: every outstanding and later request fails with this error. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

/** A worker's answer to one request; `last` closes the port after it is posted (the reply to `close`). */
export interface Served {
  reply: ChannelReply;
  transfer?: Transferable[];
  last?: boolean;
}

/**
 * The worker's side: handles requests one at a time in arrival order (the parent may queue the next while one runs),
 * posting what `handle` returns; a throw becomes a `failed` reply for that request's id (none for the opening one).
 */
export function serveInOrder<Request extends { type: string; id?: number }>(port: MessagePort, handle: (request: Request) => Promise<Served>): void {
  let queue = Promise.resolve();
  port.on('message', (request: Request) => {
    queue = queue.then(async () => {
      let served: Served;
      try {
        served = await handle(request);
      } catch (error) {
        served = { reply: { type: 'failed', id: request.id, error: toWireError(error) } };
      }
      port.postMessage(served.reply, served.transfer ?? []);
      if (served.last === true) port.close();
    });
  });
}
