// Worker-thread entry of the render pool: renders the images it is sent and posts back the JPEG bytes.
import { parentPort } from 'node:worker_threads';
import { renderImage, type ImageJob } from './render_image.ts';
import type { Scene } from './scene.ts';

export interface WorkerRequest {
  id: number;
  job: ImageJob;
}

export type WorkerResponse = { id: number; ok: true; jpeg: Uint8Array; scene: Scene } | { id: number; ok: false; error: string };

const port = parentPort;
if (port === null) throw new Error('render_worker.ts must run in a worker thread');
port.on('message', (request: WorkerRequest) => {
  renderImage(request.job).then(
    ({ jpeg, scene }) => {
      // Copy into a buffer of its own so the transfer cannot detach memory sharp still pools.
      const owned = jpeg.slice();
      const response: WorkerResponse = { id: request.id, ok: true, jpeg: owned, scene };
      port.postMessage(response, [owned.buffer]);
    },
    (err: unknown) => {
      const response: WorkerResponse = { id: request.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
      port.postMessage(response);
    },
  );
});
