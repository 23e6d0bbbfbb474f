// The process's HTTP endpoint: GET /metrics (Prometheus text), /healthz (liveness), /readyz (readiness).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/logger.ts';
import type { HealthVerdict, ProcessHealth } from './health.ts';
import type { PipelineMetrics } from './metrics.ts';

export interface ObservabilityServerOptions {
  metrics: PipelineMetrics;
  health: ProcessHealth;
  host: string;
  /** 0 picks a free port (tests); the topology's 0, which means "no server", is handled by the caller. */
  port: number;
  logger: Logger;
}

export interface ObservabilityServer {
  /** e.g. `http://127.0.0.1:9464` (the bound port, also when 0 was asked for). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open (keep-alive) connections, so a drained process exits at once. */
  close(): Promise<void>;
}

export class MetricsPortInUseError extends Error {
  constructor(host: string, port: number, options: { cause: unknown }) {
    super(`metrics port ${host}:${port} is in use: set observability.port, DISTILLERY_METRICS_PORT or --metrics-port (0 = no server)`, options);
    this.name = 'MetricsPortInUseError';
  }
}

export async function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const { metrics, health, logger } = options;
  const server = http.createServer((req, res) => {
    void answer(req, res).catch((err: unknown) => {
      logger.error({ err, path: req.url }, 'observability endpoint failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  const answer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const text = await metrics.scrape();
      res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text);
    } else if (path === '/healthz') {
      json(res, health.liveness());
    } else if (path === '/readyz') {
      json(res, health.readiness());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  };
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(err.code === 'EADDRINUSE' ? new MetricsPortInUseError(options.host, options.port, { cause: err }) : err);
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'observability server error'));
  const port = (server.address() as AddressInfo).port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function json(res: http.ServerResponse, verdict: HealthVerdict): void {
  res.writeHead(verdict.ok ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(`${JSON.stringify(verdict.body)}\n`);
}
