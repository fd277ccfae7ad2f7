// kafkajs-snappy ships no types: a factory of a KafkaJS compression codec.
declare module 'kafkajs-snappy' {
  import type { CompressionCodecs, CompressionTypes } from 'kafkajs';
  const SnappyCodec: (typeof CompressionCodecs)[CompressionTypes.Snappy];
  export default SnappyCodec;
}
