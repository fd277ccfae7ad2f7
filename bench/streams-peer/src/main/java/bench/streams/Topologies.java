package bench.streams;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

/** The two topologies of issue 18, over the raw topics (keys and values as bytes). */
final class Topologies {
  private Topologies() {}

  /** Copies every record, bytes untouched. */
  static Topology passThrough(PeerConfig config, AtomicLong forwarded) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(config.inputs(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .peek((k, v) -> forwarded.incrementAndGet())
        .to(config.output(), Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
    return builder.build();
  }

  /** Decode with the writer schema, dedupe in a persistent (RocksDB) store with a changelog, JSON out. */
  static Topology decodeDedupe(PeerConfig config, AtomicLong forwarded, AtomicLong duplicates) {
    WriterSchemas schemas = new WriterSchemas(config.registryUrl());
    Topology topology = new Topology();
    topology.addSource("raw", Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer(), config.inputs().toArray(String[]::new));
    topology.addProcessor("decode-dedupe", () -> new DecodeDedupeProcessor(schemas, forwarded, duplicates), "raw");
    topology.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(DecodeDedupeProcessor.STORE), Serdes.String(), Serdes.Long())
            .withLoggingEnabled(java.util.Map.of()),
        "decode-dedupe");
    topology.addSink("json", config.output(), Serdes.ByteArray().serializer(), Serdes.ByteArray().serializer(), "decode-dedupe");
    return topology;
  }
}
