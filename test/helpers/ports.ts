// Test helper: a loopback TCP port that is free right now (for a child process's --metrics-port).
import net from 'node:net';

/** The tiny window between this check and the child binding the port is accepted. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
