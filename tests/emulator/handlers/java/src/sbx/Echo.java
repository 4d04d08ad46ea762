// Test handler for the java runtime: echoes the event, or throws when it says "raise".
package sbx;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

public class Echo {
    private static final long INIT_END_MS = System.currentTimeMillis();

    public void handle(InputStream in, OutputStream out) throws IOException {
        String event = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        if (event.contains("raise")) throw new IllegalStateException("asked to fail");
        System.out.println("handling " + event);
        out.write(("{\"event\":" + event + ",\"init_end_ms\":" + INIT_END_MS + "}")
            .getBytes(StandardCharsets.UTF_8));
    }
}
