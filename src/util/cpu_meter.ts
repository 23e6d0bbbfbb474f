// Process CPU time over wall time: how many cores a phase of the run kept busy (every thread of the process counts).
import { performance } from 'node:perf_hooks';

export interface CpuUse {
  wallSeconds: number;
  /** User + system time of the whole process: the main thread, worker threads, libuv's pool, TensorFlow's threads. */
  cpuSeconds: number;
  /** cpuSeconds ÷ wallSeconds: 2 means two cores busy on average. */
  cores: number;
  /**
   * Share of the wall time the calling thread's event loop was busy (not waiting for I/O or timers), preemption by
   * other processes included: what that thread asked for, which a loaded machine may not have given as CPU.
   */
  threadBusy: number;
}

/** Starts measuring now; the returned function reads the CPU use since then (call it as often as wanted). */
export function startCpuMeter(): () => CpuUse {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const threadBusy = performance.eventLoopUtilization(elu0).utilization;
    return { wallSeconds, cpuSeconds, cores: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0, threadBusy };
  };
}
