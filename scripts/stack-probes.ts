import { createServer } from 'node:net';
import { createKafka, createLogger } from '@cio-pipeline/core';

/**
 * Readiness of the local stack, probed for real: a broker whose group and transaction coordinators
 * answer, a registry whose journal is replayed. Never a fixed sleep. Also a free port for test stacks.
 */

export async function waitForKafka(brokers: string, timeoutMs = 120_000, alive: () => boolean = () => true): Promise<void> {
  // Through core's client factory: it filters KafkaJS's Node 24 timer warning; the probe stays silent.
  const kafka = createKafka({ clientId: 'local-stack-probe', brokers: brokers.split(','), logger: createLogger('local-stack', 'silent'), retry: { retries: 2, initialRetryTime: 100 } });
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not tried';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the Kafka process exited during start-up; see its log');
    const admin = kafka.admin();
    try {
      await admin.connect();
      // A metadata request that succeeds means the broker is up and has a controller.
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0 || cluster.controller === null) {
        lastError = 'no controller yet';
      } else {
        // A fresh KRaft broker creates __consumer_offsets and __transaction_state on first use;
        // until then group and transaction calls fail. Ready means both coordinators answer.
        await admin.describeGroups(['local-stack-readiness']);
        const producer = kafka.producer({ transactionalId: 'local-stack-readiness', idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        await producer.disconnect();
        return;
      }
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await delay(250);
  }
  throw new Error(`Kafka at ${brokers} not ready after ${timeoutMs} ms: ${lastError}`);
}

export async function waitForRegistry(url: string, timeoutMs = 120_000, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not tried';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the registry process exited during start-up; see its log');
    try {
      // With KafkaSQL storage the API answers before the journal is replayed (a restarted registry
      // would say a known subject has no versions); readiness turns UP only once it has been.
      const ready = await fetch(`${new URL(url).origin}/health/ready`, { signal: AbortSignal.timeout(2000) });
      const res = ready.ok ? await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) }) : ready;
      if (res.ok) return;
      lastError = `HTTP ${res.status} from ${res.url}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await delay(250);
  }
  throw new Error(`schema registry at ${url} not ready after ${timeoutMs} ms: ${lastError}`);
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A free loopback port, for a stack that must not collide with one already running. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}
