// Errors across a worker-thread boundary: what is posted, and the error rebuilt on the receiving side.

/** An error as it crosses the thread boundary (class names and stacks do not survive structured clone reliably). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

/** The worker's error rebuilt on the stage's thread: same name and message, the worker's stack as the cause. */
export function fromWireError(wire: WireError, context: string): Error {
  const error = new Error(`${context}: ${wire.message}`, { cause: wire.stack });
  error.name = wire.name;
  return error;
}
