package bench.streams;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The command line, validated before anything connects: every problem is reported at once. */
record PeerConfig(
    Topology variant,
    String brokers,
    String registryUrl,
    String applicationId,
    List<String> inputs,
    String output,
    long expected,
    int threads,
    long commitIntervalMs) {

  enum Topology {
    PASS_THROUGH("pass-through"),
    DECODE_DEDUPE("decode-dedupe");

    final String label;

    Topology(String label) {
      this.label = label;
    }

    static Topology of(String label) {
      for (Topology t : values()) if (t.label.equals(label)) return t;
      return null;
    }
  }

  static final String USAGE = "usage: StreamsPeer --variant pass-through|decode-dedupe --brokers HOST:PORT"
      + " --registry URL --application-id ID --inputs TOPIC[,TOPIC...] --output TOPIC --expected N"
      + " [--threads 1] [--commit-interval-ms 100]";

  static PeerConfig parse(String[] args) {
    Map<String, String> opts = new HashMap<>();
    List<String> problems = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        problems.add("unexpected argument " + args[i]);
        continue;
      }
      opts.put(args[i].substring(2), args[++i]);
    }
    Topology variant = Topology.of(opts.getOrDefault("variant", ""));
    if (variant == null) problems.add("--variant must be pass-through or decode-dedupe");
    for (String required : List.of("brokers", "application-id", "inputs", "output", "expected")) {
      if (!opts.containsKey(required)) problems.add("--" + required + " is required");
    }
    if (variant == Topology.DECODE_DEDUPE && !opts.containsKey("registry")) {
      problems.add("--registry is required for decode-dedupe");
    }
    long expected = positive(opts, "expected", "0", problems);
    long threads = positive(opts, "threads", "1", problems);
    long commitMs = positive(opts, "commit-interval-ms", "100", problems);
    if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems) + "\n" + USAGE);
    return new PeerConfig(variant, opts.get("brokers"), opts.get("registry"), opts.get("application-id"),
        List.of(opts.get("inputs").split(",")), opts.get("output"), expected, (int) threads, commitMs);
  }

  private static long positive(Map<String, String> opts, String name, String fallback, List<String> problems) {
    if (!opts.containsKey(name) && fallback.equals("0")) return 0; // reported as missing already
    try {
      long value = Long.parseLong(opts.getOrDefault(name, fallback));
      if (value > 0) return value;
    } catch (NumberFormatException e) {
      // reported below
    }
    problems.add("--" + name + " must be a positive integer");
    return 0;
  }
}
