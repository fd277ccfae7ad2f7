package bench.streams;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * The Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body) read with the
 * writer's own schema. One instance per stream task (not thread-safe: it reuses its decoder).
 */
final class ConfluentAvroDecoder {
  private static final byte MAGIC = 0;
  private final WriterSchemas schemas;
  private final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
  private BinaryDecoder decoder;

  ConfluentAvroDecoder(WriterSchemas schemas) {
    this.schemas = schemas;
  }

  GenericRecord decode(byte[] bytes) {
    if (bytes == null || bytes.length < 5 || bytes[0] != MAGIC) {
      throw new PeerException("CORRUPT", "record is not in the schema-registry wire format");
    }
    int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
    GenericDatumReader<GenericRecord> reader = readers.computeIfAbsent(id, i -> new GenericDatumReader<>(schemas.get(i)));
    decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, decoder);
    try {
      return reader.read(null, decoder);
    } catch (IOException | RuntimeException e) {
      throw new PeerException("CORRUPT", "record body does not decode with writer schema " + id, e);
    }
  }
}
