/**
 * Provides a real Kafka broker and schema registry to the integration tests:
 *  1. KAFKA_BROKERS and SCHEMA_REGISTRY_URL, when both are set, point at existing ones;
 *  2. else, when a container runtime answers, testcontainers starts Kafka and the registry;
 *  3. else the native local stack (jars from Maven Central on the installed Java) starts on free
 *     loopback ports, under its own name so it never touches the stack `make dev` runs.
 */
import type { TestProject } from 'vitest/node';
import { freePort, startStack, stopStack } from '../../scripts/local-stack.ts';
import { startContainerStack, containerRuntimeAvailable } from './container-stack.ts';

export interface StackInfo {
  brokers: string;
  registryUrl: string;
  mode: 'external' | 'containers' | 'native';
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const brokers = process.env['KAFKA_BROKERS'];
  const registryUrl = process.env['SCHEMA_REGISTRY_URL'];
  if (brokers && registryUrl) {
    project.provide('stack', { brokers, registryUrl, mode: 'external' });
    return async () => undefined;
  }
  if (await containerRuntimeAvailable()) {
    const stack = await startContainerStack();
    project.provide('stack', { brokers: stack.brokers, registryUrl: stack.registryUrl, mode: 'containers' });
    return stack.stop;
  }
  const name = `test-${process.pid}`;
  const started = Date.now();
  const stack = await startStack({ name, kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false });
  process.stderr.write(`[global-setup] native stack "${name}" ready in ${Date.now() - started} ms\n`);
  project.provide('stack', { brokers: stack.brokers, registryUrl: stack.registryUrl, mode: 'native' });
  // If the run is killed, do not leave a broker behind.
  const killOnExit = (): void => void stopStack(name);
  process.once('exit', killOnExit);
  return async () => {
    process.off('exit', killOnExit);
    await stack.stop();
    const { wipeStack } = await import('../../scripts/local-stack.ts');
    wipeStack(name);
  };
}
