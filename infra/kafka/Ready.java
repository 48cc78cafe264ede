// Waits until the Kafka broker at the given bootstrap address answers a metadata request
// (describeCluster lists a broker and listTopics works), or the deadline passes.
// Compiled and run by start.sh: java -cp <classes>:<kafka classpath> Ready ADDR SECONDS [PID]
// With PID, gives up at once when that process (the broker) has exited.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
    java.util.Optional<ProcessHandle> broker = args.length > 2 ? ProcessHandle.of(Long.parseLong(args[2])) : java.util.Optional.empty();
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    String last = "no answer";
    try (Admin admin = Admin.create(props)) {
      while (System.nanoTime() < deadline) {
        if (args.length > 2 && !broker.map(ProcessHandle::isAlive).orElse(false)) {
          System.err.println("not ready: the broker process " + args[2] + " exited");
          System.exit(1);
        }
        try {
          int brokers = admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).size();
          admin.listTopics().names().get(3, TimeUnit.SECONDS);
          if (brokers > 0) {
            System.out.println("ready: " + brokers + " broker(s)");
            return;
          }
          last = "no broker registered yet";
        } catch (Exception e) {
          last = String.valueOf(e.getCause() != null ? e.getCause() : e);
        }
        Thread.sleep(250);
      }
    }
    System.err.println("not ready: " + last);
    System.exit(1);
  }
}
