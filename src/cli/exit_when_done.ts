// Ends the process once a command has finished, even if a library left a handle open behind it.
import type { Writable } from 'node:stream';

export interface ExitOptions {
  /** How long the event loop may keep running after the command returned (flushing logs, closing sockets). */
  graceMs?: number;
  stderr?: Pick<Writable, 'write'>;
}

const DEFAULT_GRACE_MS = 5_000;

/**
 * Sets the exit code, then lets the process end on its own. Every piece of the command's work has been awaited by
 * now, so if something still holds the event loop after `graceMs` (a client's socket or timer a library did not
 * release), the process says what was open and exits: a one-off stage in a Kubernetes Job must complete, not sit
 * there until its liveness probe restarts it.
 */
export function exitWhenDone(code: number, options: ExitOptions = {}): void {
  process.exitCode = code;
  const stderr = options.stderr ?? process.stderr;
  const timer = setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout');
    stderr.write(`distillery: the command finished but ${open.length > 0 ? open.join(', ') : 'something'} still held the process; exiting with ${code}\n`);
    process.exit(code);
  }, options.graceMs ?? DEFAULT_GRACE_MS);
  timer.unref();
}
