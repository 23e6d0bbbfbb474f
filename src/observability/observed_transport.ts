// A stage's view of the transport that remembers its producers and consumers, so readiness can ask them directly.
import type {
  Consumer,
  ConsumerConfig,
  PartitionOffset,
  PartitionWatermarks,
  Producer,
  ProducerConfig,
  RecordMetadata,
  RunOptions,
  SubscribeOptions,
  TopicPartition,
  TopicSpec,
  Transport,
  OutgoingMessage,
} from '../transport/transport.ts';
import type { ReadinessProbe } from './health.ts';

type ClientState = 'created' | 'connected' | 'disconnected';

/**
 * Delegates everything to `inner`. A stage creates its clients only after loading its model, so "every client
 * connected and every consumer assigned at least one partition" also means "model loaded". The probe reads the
 * consumers' assignment live: a rebalance that takes a member's partitions makes it unready until the next join.
 */
export class ObservedTransport implements Transport {
  private readonly producers: ObservedProducer[] = [];
  private readonly consumers: ObservedConsumer[] = [];

  constructor(private readonly inner: Transport) {}

  readonly probe: ReadinessProbe = () => {
    const clients = [...this.producers, ...this.consumers];
    if (clients.length === 0) return `starting: not connected to ${this.inner.describe()} yet (loading the model, creating topics)`;
    for (const c of clients) {
      if (c.state === 'created') return `connecting to ${this.inner.describe()}`;
      if (c.state === 'disconnected') return 'disconnected from the transport';
    }
    for (const c of this.consumers) {
      if (c.assignment().length === 0) return `consumer group ${c.groupId} has no partition assigned${c.topics.length > 0 ? ` (of ${c.topics.join(', ')})` : ''}`;
    }
    return undefined;
  };

  producer(config?: ProducerConfig): Producer {
    const p = new ObservedProducer(this.inner.producer(config));
    this.producers.push(p);
    return p;
  }

  consumer(config: ConsumerConfig): Consumer {
    const c = new ObservedConsumer(this.inner.consumer(config));
    this.consumers.push(c);
    return c;
  }

  describe(): string {
    return this.inner.describe();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  createTopics(topics: TopicSpec[]): Promise<boolean> {
    return this.inner.createTopics(topics);
  }

  topicOffsets(topic: string): Promise<PartitionWatermarks[]> {
    return this.inner.topicOffsets(topic);
  }

  groupOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    return this.inner.groupOffsets(groupId, topic);
  }

  setGroupOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void> {
    return this.inner.setGroupOffsets(groupId, topic, offsets);
  }

  deleteGroups(groupIds: string[]): Promise<void> {
    return this.inner.deleteGroups(groupIds);
  }
}

class ObservedProducer implements Producer {
  state: ClientState = 'created';

  constructor(private readonly inner: Producer) {}

  async connect(): Promise<void> {
    await this.inner.connect();
    this.state = 'connected';
  }

  send(topic: string, messages: OutgoingMessage[]): Promise<RecordMetadata[]> {
    return this.inner.send(topic, messages);
  }

  async disconnect(): Promise<void> {
    this.state = 'disconnected';
    await this.inner.disconnect();
  }
}

class ObservedConsumer implements Consumer {
  state: ClientState = 'created';
  topics: string[] = [];

  constructor(private readonly inner: Consumer) {}

  get groupId(): string {
    return this.inner.groupId;
  }

  async connect(): Promise<void> {
    await this.inner.connect();
    this.state = 'connected';
  }

  async subscribe(options: SubscribeOptions): Promise<void> {
    await this.inner.subscribe(options);
    this.topics.push(...options.topics);
  }

  run(options: RunOptions): Promise<void> {
    return this.inner.run(options);
  }

  commit(topic: string, partition: number, nextOffset: string): Promise<void> {
    return this.inner.commit(topic, partition, nextOffset);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  async disconnect(): Promise<void> {
    this.state = 'disconnected';
    await this.inner.disconnect();
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    this.inner.pause(topics);
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    this.inner.resume(topics);
  }

  assignment(): TopicPartition[] {
    return this.inner.assignment();
  }
}
