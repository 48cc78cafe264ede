package seg.spark;

/** A failure the driver reports as one clear line, with the process exit code to use. */
final class DriverException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Anything unexpected (a bug, Spark dying). */
  static final int FAILURE = 1;
  /** Bad arguments or a bad spec / plan file. */
  static final int USAGE = 2;
  /** Input missing or unreadable (data file, Kafka). */
  static final int INPUT = 3;
  /** Spark rejected a statement (parse or analysis error) or it produced a bad result. */
  static final int SQL = 4;
  /** Results could not be written. */
  static final int OUTPUT = 5;

  final int exitCode;
  /** The statement concerned (spec id), if any. */
  final String statement;

  DriverException(int exitCode, String message) {
    this(exitCode, message, null, null);
  }

  DriverException(int exitCode, String message, String statement, Throwable cause) {
    super(message, cause);
    this.exitCode = exitCode;
    this.statement = statement;
  }
}
