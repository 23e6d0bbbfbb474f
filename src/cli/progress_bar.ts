// A cli-progress bar that starts on its first update (when the total is known) and stops at most once.
import cliProgress from 'cli-progress';

export interface LazyBar {
  update(value: number, total: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

export function lazyBar(stream: { write(text: string): unknown }, format: string): LazyBar {
  const bar = new cliProgress.SingleBar({ stream: stream as NodeJS.WriteStream, format, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  let stopped = false;
  return {
    update(value, total, payload = {}) {
      if (!started) {
        bar.start(total, 0, payload);
        started = true;
      }
      bar.update(value, payload);
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
