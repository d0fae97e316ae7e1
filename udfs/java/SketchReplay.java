package shopguard.udfs.entities;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Events through {@link EntitySketch} (and a {@link RingRule}) without Flink, for the unit tests: one event a line on
 * stdin, tab-separated (entity, account, event type, event time ms, item id, 1 if the account is new else 0, and
 * optionally 1 if the event is linked by a device ring else 0); for each, a line on stdout with its seven figures
 * and the entity's state bytes in hex, tab-separated. The state goes through its bytes between events, as in the
 * keyed step.
 *
 * <p>Given a rule as arguments (min accounts, min share, crowd accounts in 30 days, min failing or -1), each line
 * also ends with 1 when the entity is a ring at the event ({@link RingRule#isRing}) else 0.
 */
public final class SketchReplay {
    private SketchReplay() {}

    public static void main(String[] args) throws Exception {
        RingRule rule = args.length == 4
            ? new RingRule(Integer.parseInt(args[0]), Double.parseDouble(args[1]), Integer.parseInt(args[2]),
                Integer.parseInt(args[3]))
            : null;
        Map<String, byte[]> states = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            boolean linked = f.length > 6 && "1".equals(f[6]);
            EntitySketch sketch = EntitySketch.fromBytes(states.get(f[0]));
            double[] figures = sketch.observe(f[1], f[2], Long.parseLong(f[3]), f[4], "1".equals(f[5]), linked);
            byte[] state = sketch.toBytes();
            states.put(f[0], state);
            StringBuilder row = new StringBuilder();
            for (double figure : figures) {
                row.append(figure).append('\t');
            }
            row.append(HexFormat.of().formatHex(state));
            if (rule != null) {
                row.append('\t').append(rule.isRing(sketch, figures) ? 1 : 0);
            }
            out.println(row);
        }
        out.flush();
    }
}
