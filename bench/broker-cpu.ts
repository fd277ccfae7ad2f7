import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds used so far by the Kafka broker running on this machine, or null when there is not
 * exactly one (no /proc, a remote broker, several local ones). The broker shares the two cores with
 * the variant it serves, so what a variant costs it (transactions, markers, fetches) is part of
 * the variant's cost.
 */
export function brokerCpuSeconds(): number | null {
  const pid = localBrokerPid();
  if (pid === null) return null;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return null;
  }
}

let cachedPid: number | null | undefined;
let ticks: number | undefined;

function localBrokerPid(): number | null {
  if (cachedPid !== undefined) return cachedPid;
  let found: number[] = [];
  try {
    found = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('kafka.Kafka');
      } catch {
        return false;
      }
    });
  } catch {
    found = [];
  }
  cachedPid = found.length === 1 ? found[0]! : null;
  return cachedPid;
}

function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU used from now until the returned function is called: this process (every thread) and the local broker (absent when not measurable). */
export function startCpuMeter(): () => { cpuSeconds: number; brokerCpuSeconds?: number } {
  const cpu0 = process.cpuUsage();
  const broker0 = brokerCpuSeconds();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const broker1 = brokerCpuSeconds();
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6, ...(broker0 !== null && broker1 !== null ? { brokerCpuSeconds: broker1 - broker0 } : {}) };
  };
}
