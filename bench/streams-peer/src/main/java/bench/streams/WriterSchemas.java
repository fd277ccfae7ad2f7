package bench.streams;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * Writer schemas by id from a Confluent-compatible registry (`GET /schemas/ids/{id}`), fetched once
 * per id: a lookup per record would measure the registry, not the stream.
 */
final class WriterSchemas {
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();
  private final String baseUrl;
  private final ConcurrentHashMap<Integer, Schema> byId = new ConcurrentHashMap<>();

  WriterSchemas(String registryUrl) {
    this.baseUrl = registryUrl.replaceAll("/+$", "");
  }

  Schema get(int id) {
    return byId.computeIfAbsent(id, this::fetch);
  }

  private Schema fetch(int id) {
    HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/schemas/ids/" + id))
        .timeout(Duration.ofSeconds(5)).GET().build();
    try {
      HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) {
        throw new PeerException("SCHEMA_UNAVAILABLE", "registry answered " + response.statusCode() + " for schema id " + id);
      }
      String text = json.readTree(response.body()).path("schema").asText();
      return new Schema.Parser().parse(text);
    } catch (IOException e) {
      throw new PeerException("SCHEMA_UNAVAILABLE", "schema id " + id + " could not be fetched: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PeerException("SCHEMA_UNAVAILABLE", "interrupted fetching schema id " + id, e);
    }
  }
}
