package bench.streams;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Decodes a raw envelope with its writer schema, drops it when its dedupe key is already in the
 * store (RocksDB, logged to a changelog topic), else remembers the key and forwards the envelope as
 * JSON, with its body (the client's JSON) parsed and nested: the work the normalizer does first.
 */
final class DecodeDedupeProcessor implements Processor<byte[], byte[], byte[], byte[]> {
  static final String STORE = "dedupe-keys";
  private static final ObjectMapper JSON = new ObjectMapper();
  private final WriterSchemas schemas;
  private final AtomicLong forwarded;
  private final AtomicLong duplicates;
  private ConfluentAvroDecoder decoder;
  private KeyValueStore<String, Long> seen;
  private ProcessorContext<byte[], byte[]> context;

  DecodeDedupeProcessor(WriterSchemas schemas, AtomicLong forwarded, AtomicLong duplicates) {
    this.schemas = schemas;
    this.forwarded = forwarded;
    this.duplicates = duplicates;
  }

  @Override
  public void init(ProcessorContext<byte[], byte[]> context) {
    this.context = context;
    this.decoder = new ConfluentAvroDecoder(schemas);
    this.seen = context.getStateStore(STORE);
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    GenericRecord envelope = decoder.decode(record.value());
    String key = dedupeKey(envelope);
    if (seen.get(key) != null) {
      duplicates.incrementAndGet();
      return;
    }
    seen.put(key, record.timestamp());
    context.forward(record.withValue(toJson(envelope)));
    forwarded.incrementAndGet();
  }

  /** The client's messageId for app messages; the delivery's id for webhooks (as the normalizer's delivery key). */
  static String dedupeKey(GenericRecord envelope) {
    String source = envelope.getSchema().getName();
    for (String field : new String[] {"message_id", "webhook_id", "ingest_id"}) {
      if (envelope.getSchema().getField(field) != null && envelope.get(field) != null) {
        return source + ":" + envelope.get(field);
      }
    }
    throw new PeerException("NO_DEDUPE_KEY", source + " has no message_id, webhook_id or ingest_id");
  }

  private static byte[] toJson(GenericRecord envelope) {
    ObjectNode out = JSON.createObjectNode();
    try {
      for (Schema.Field field : envelope.getSchema().getFields()) {
        Object value = envelope.get(field.pos());
        if (value == null) out.putNull(field.name());
        else if (value instanceof ByteBuffer bytes) out.set(field.name(), JSON.readTree(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining()));
        else if (value instanceof Long n) out.put(field.name(), n);
        else if (value instanceof Integer n) out.put(field.name(), n);
        else if (value instanceof Boolean b) out.put(field.name(), b);
        else out.put(field.name(), value.toString());
      }
      return JSON.writeValueAsBytes(out);
    } catch (IOException e) {
      throw new PeerException("BODY_NOT_JSON", "the envelope's body is not JSON", e);
    }
  }
}
