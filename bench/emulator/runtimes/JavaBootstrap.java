// coldbench's Java runtime: loads `pkg.Class::method` (signature (InputStream, OutputStream))
// during init, then loops on the Lambda Runtime API. HttpURLConnection rather than
// java.net.http.HttpClient: the latter costs tens of milliseconds to start, which would
// show up in every Init Duration.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public final class JavaBootstrap {
    private static final String BASE =
        "http://" + System.getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime";

    private record Reply(int status, byte[] body, String requestId) {}

    public static void main(String[] args) throws Exception {
        String spec = System.getenv("_HANDLER");
        Method method;
        Object target;
        try {
            String[] parts = spec.split("::", 2);
            String methodName = parts.length == 2 ? parts[1] : "handleRequest";
            Class<?> type = Class.forName(parts[0], true, JavaBootstrap.class.getClassLoader());
            method = type.getMethod(methodName, InputStream.class, OutputStream.class);
            target = Modifier.isStatic(method.getModifiers())
                ? null : type.getDeclaredConstructor().newInstance();
        } catch (Throwable e) {
            Throwable cause = e instanceof InvocationTargetException ite ? ite.getCause() : e;
            String type = cause instanceof ClassNotFoundException
                ? "Runtime.ClassNotFound" : cause.getClass().getName();
            System.err.println("Error loading handler " + spec + ": " + cause);
            post("/init/error", errorDoc(cause, type), type);
            System.exit(1);
            return;
        }
        while (true) {
            Reply next = call("GET", "/invocation/next", null, null);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try {
                method.invoke(target, new ByteArrayInputStream(next.body()), out);
                post("/invocation/" + next.requestId() + "/response", out.toByteArray(), null);
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                String type = cause.getClass().getName();
                System.err.println(stackTrace(cause));
                post("/invocation/" + next.requestId() + "/error", errorDoc(cause, type), type);
            }
        }
    }

    private static void post(String path, byte[] body, String errorType) throws IOException {
        call("POST", path, body, errorType);
    }

    private static Reply call(String verb, String path, byte[] body, String errorType)
            throws IOException {
        HttpURLConnection conn = (HttpURLConnection) new URL(BASE + path).openConnection();
        conn.setRequestMethod(verb);
        conn.setReadTimeout(0);  // GET /next is a long poll
        if (errorType != null) conn.setRequestProperty("Lambda-Runtime-Function-Error-Type", errorType);
        if (body != null) {
            conn.setDoOutput(true);
            conn.setFixedLengthStreamingMode(body.length);
            try (OutputStream out = conn.getOutputStream()) {
                out.write(body);
            }
        }
        int status = conn.getResponseCode();
        InputStream in = status < 400 ? conn.getInputStream() : conn.getErrorStream();
        byte[] data = in == null ? new byte[0] : in.readAllBytes();
        if (in != null) in.close();  // closing (not disconnecting) keeps the connection alive
        return new Reply(status, data, conn.getHeaderField("Lambda-Runtime-Aws-Request-Id"));
    }

    private static byte[] errorDoc(Throwable e, String type) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        StringBuilder trace = new StringBuilder();
        for (StackTraceElement frame : e.getStackTrace()) {
            if (trace.length() > 0) trace.append(',');
            trace.append(quote(frame.toString()));
        }
        String doc = "{\"errorMessage\":" + quote(message) + ",\"errorType\":" + quote(type)
            + ",\"stackTrace\":[" + trace + "]}";
        return doc.getBytes(StandardCharsets.UTF_8);
    }

    private static String stackTrace(Throwable e) {
        StringWriter text = new StringWriter();
        e.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }
}
