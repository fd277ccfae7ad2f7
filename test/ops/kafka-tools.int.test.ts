/**
 * Kafka 4's command-line tools from the local stack's jars (`make topics`, `make groups`) run
 * against the real broker (issue 15), and answer the two probes docker-compose's Kafka
 * healthcheck relies on to know both coordinators are up.
 */
import { describe, expect, it } from 'vitest';
import { runKafkaTool } from '../../scripts/kafka-tools.ts';
import { stackInfo, testKafka, uniqueName } from '../support/kafka.ts';

describe('Kafka command-line tools', () => {
  it('create, describe and delete a topic, and describe a consumer group with its offsets', async () => {
    const brokers = stackInfo().brokers;
    const topic = uniqueName('cli-topic');
    const group = uniqueName('cli-group');
    const created = runKafkaTool('topics', brokers, ['--create', '--topic', topic, '--partitions', '2', '--replication-factor', '1']);
    expect(created.status, created.stderr).toBe(0);
    const described = runKafkaTool('topics', brokers, ['--describe', '--topic', topic]);
    expect(described.stdout).toMatch(new RegExp(`Topic: ${topic}\\s.*PartitionCount: 2`));

    // A group that consumed and committed one record: the tool shows its offset on the topic.
    const kafka = testKafka();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'v' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: group });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => void consumer.run({ eachMessage: async () => resolve() }));
    await consumer.disconnect();
    const groups = runKafkaTool('groups', brokers, ['--describe', '--group', group]);
    expect(groups.status, groups.stderr).toBe(0);
    const row = groups.stdout.split('\n').find((l) => l.startsWith(group) && l.includes(topic));
    expect(row, groups.stdout).toBeDefined();
    expect(row!.split(/\s+/).slice(0, 2)).toEqual([group, topic]);
    expect(runKafkaTool('groups', brokers, ['--list']).stdout.split('\n')).toContain(group);

    expect(runKafkaTool('topics', brokers, ['--delete', '--topic', topic]).status).toBe(0);
  }, 240_000);

  it('answers the coordinator probes of the compose healthcheck', () => {
    const brokers = stackInfo().brokers;
    const group = runKafkaTool('groups', brokers, ['--describe', '--group', uniqueName('no-such-group')]);
    expect(`${group.stdout}${group.stderr}`).toContain('GroupIdNotFound');
    const txn = runKafkaTool('transactions', brokers, ['describe', '--transactional-id', uniqueName('no-such-txn')]);
    expect(`${txn.stdout}${txn.stderr}`).toContain('could not be found');
  }, 120_000);
});
