package shopguard.udfs.entities;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Events through {@link EntitySketch} without Flink, for the unit tests: one event a line on stdin, tab-separated
 * (entity, account, event type, event time ms, item id, 1 if the account is new else 0); for each, a line on stdout
 * with its seven figures and the entity's state bytes in hex, tab-separated. The state goes through its bytes
 * between events, as in the keyed step.
 */
public final class SketchReplay {
    private SketchReplay() {}

    public static void main(String[] args) throws Exception {
        Map<String, byte[]> states = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            EntitySketch sketch = EntitySketch.fromBytes(states.get(f[0]));
            double[] figures = sketch.observe(f[1], f[2], Long.parseLong(f[3]), f[4], "1".equals(f[5]), false);
            byte[] state = sketch.toBytes();
            states.put(f[0], state);
            StringBuilder row = new StringBuilder();
            for (double figure : figures) {
                row.append(figure).append('\t');
            }
            out.println(row.append(HexFormat.of().formatHex(state)));
        }
        out.flush();
    }
}
