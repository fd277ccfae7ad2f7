package bench.streams;

/** A failure of the peer with a code, like the pipeline's typed errors. */
final class PeerException extends RuntimeException {
  final String code;

  PeerException(String code, String message) {
    super(code + ": " + message);
    this.code = code;
  }

  PeerException(String code, String message, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
  }
}
