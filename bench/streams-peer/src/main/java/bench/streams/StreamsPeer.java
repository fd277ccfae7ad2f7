package bench.streams;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;

/**
 * Runs one topology over the raw topics until its group has committed `--expected` input records
 * (the normalizer benchmark's end condition), then prints one `RESULT {json}` line on stdout:
 * the timed part starts when the instance is RUNNING (group joined, tasks assigned), as the
 * normalizer benchmark's starts once its consumer has joined.
 */
public final class StreamsPeer {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    PeerConfig config;
    try {
      config = PeerConfig.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    Path stateDir = Files.createTempDirectory("streams-peer-");
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.brokers()))) {
      createOutput(admin, config.output());
      System.out.println("RESULT " + run(config, admin, stateDir));
    } finally {
      deleteTree(stateDir);
    }
    System.exit(0);
  }

  private static String run(PeerConfig config, Admin admin, Path stateDir) throws Exception {
    AtomicLong forwarded = new AtomicLong();
    AtomicLong duplicates = new AtomicLong();
    Topology topology = config.variant() == PeerConfig.Topology.PASS_THROUGH
        ? Topologies.passThrough(config, forwarded)
        : Topologies.decodeDedupe(config, forwarded, duplicates);
    long launched = System.nanoTime();
    KafkaStreams streams = new KafkaStreams(topology, streamsProperties(config, stateDir));
    CountDownLatch running = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) running.countDown();
    });
    streams.setUncaughtExceptionHandler(e -> {
      failure.set(e);
      running.countDown();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.start();
    if (!running.await(120, TimeUnit.SECONDS)) throw new PeerException("NOT_RUNNING", "not RUNNING after 120 s");
    long started = System.nanoTime();
    long cpuAtStart = processCpuNanos();
    long gcAtStart = gcMillis();
    long committed = 0;
    while (committed < config.expected()) {
      if (failure.get() != null) throw new PeerException("STREAM_FAILED", failure.get().toString(), failure.get());
      Thread.sleep(100);
      committed = committedInputs(admin, config);
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    double cpuSeconds = (processCpuNanos() - cpuAtStart) / 1e9;
    double gcSeconds = (gcMillis() - gcAtStart) / 1e3;
    long commits = Math.round(metricSum(streams, "stream-thread-metrics", "commit-total"));
    streams.close(java.time.Duration.ofSeconds(30)); // its state directory is deleted by main

    ObjectNode result = JSON.createObjectNode();
    result.put("variant", config.variant().label);
    result.put("records", committed);
    result.put("out", forwarded.get());
    result.put("duplicates", duplicates.get());
    result.put("seconds", seconds);
    result.put("recordsPerSecond", committed / seconds);
    result.put("cpuSeconds", cpuSeconds);
    result.put("gcSeconds", gcSeconds);
    result.put("commits", commits);
    result.put("threads", config.threads());
    result.put("startupMs", Math.round((started - launched) / 1e6));
    result.put("peakRssMb", peakRssMb());
    return JSON.writeValueAsString(result);
  }

  private static Properties streamsProperties(PeerConfig config, Path stateDir) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.brokers());
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, config.commitIntervalMs());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.threads());
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1); // the bench's broker is a single node
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    return p;
  }

  private static void createOutput(Admin admin, String topic) throws Exception {
    try {
      admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) throw e;
    }
  }

  /** Input records whose offsets the application's group has committed (its transactions' sendOffsets). */
  private static long committedInputs(Admin admin, PeerConfig config) throws Exception {
    return admin.listConsumerGroupOffsets(config.applicationId()).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
        .entrySet().stream()
        .filter(e -> config.inputs().contains(e.getKey().topic()) && e.getValue() != null)
        .mapToLong(e -> e.getValue().offset())
        .sum();
  }

  private static double metricSum(KafkaStreams streams, String group, String name) {
    return streams.metrics().values().stream()
        .filter(m -> m.metricName().group().equals(group) && m.metricName().name().equals(name))
        .mapToDouble(m -> m.metricValue() instanceof Number n ? n.doubleValue() : 0)
        .sum();
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static long gcMillis() {
    return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(GarbageCollectorMXBean::getCollectionTime).sum();
  }

  /** VmHWM: the process's peak resident set, like the Node workers' sampled peak. */
  private static long peakRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
      }
    } catch (IOException | NumberFormatException e) {
      // not Linux: reported as 0
    }
    return 0;
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) return;
    try (var paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }
}
