package shopguard.udfs.entities;

import java.io.Serializable;

/**
 * When an entity is a ring at an event: udfs/entity_rings.py's RingRule and the decision its RingWatch takes after
 * each event ({@code _watch_evidence(rule, sketch, figures) is not None}), ported so that the Java entity steps send
 * only those events to Python, where the ring alert is written.
 *
 * <p>The entity's own evidence (ring_evidence: among the accounts seen within three days, the most that did one
 * thing together, or that failed payments repeatedly) holds when the rule does and the entity is no crowd; otherwise
 * the entity is still a ring at the event when no crowd and one of its recent accounts was linked by a device ring
 * and another account here acted like the linked ones (linked_evidence). Only the yes/no is ported: the accounts
 * named, the text and the cool-down are the Python ring step's.
 */
public final class RingRule implements Serializable {
    private static final long serialVersionUID = 1L;
    /** {@code minFailing}'s value for Python's None: no ring from repeated payment failures alone. */
    public static final int NO_MIN_FAILING = -1;
    static final int RING_WINDOW_S = 3 * EntitySketch.DAY_S;
    static final int REPEATED_FAILURES = 2;
    private static final int ACCOUNTS_30D = 2;

    private final int minAccounts;
    private final double minShare;
    private final int crowdAccounts30d;
    private final int minFailing;

    /** udfs/entity_rings.py's RingRule(min_accounts, min_share, crowd_accounts_30d, min_failing); -1: None. */
    public RingRule(int minAccounts, double minShare, int crowdAccounts30d, int minFailing) {
        this.minAccounts = minAccounts;
        this.minShare = minShare;
        this.crowdAccounts30d = crowdAccounts30d;
        this.minFailing = minFailing;
    }

    /** The fewest accounts that can make a ring (Python's {@code min(min_accounts, min_failing or min_accounts)}). */
    int fewest() {
        return Math.min(minAccounts, minFailing == NO_MIN_FAILING || minFailing == 0 ? minAccounts : minFailing);
    }

    /**
     * Whether the entity is a ring at the event {@code sketch} just observed ({@code figures}: what observe returned,
     * in EntityFigures' order): Python's {@code _watch_evidence(rule, sketch, figures) is not None}.
     */
    public boolean isRing(EntitySketch sketch, double[] figures) {
        double accounts30d = figures[ACCOUNTS_30D];
        if (mayHold(sketch, accounts30d) && holds(sketch, recentAccounts(sketch), accounts30d)) {
            return true;  // most entities fail mayHold cheaply
        }
        if (accounts30d > crowdAccounts30d || !anyLinked(sketch)) {
            return false;
        }
        return actLikeLinked(sketch, recentAccounts(sketch));
    }

    /** sketch.linked_accounts(RING_WINDOW_S) > 0. */
    private static boolean anyLinked(EntitySketch sketch) {
        long since = sketch.nowS - RING_WINDOW_S;
        for (int i = 0; i < sketch.n; i++) {
            if (sketch.last[i] > since && (sketch.flags[i] & EntitySketch.LINKED) != 0) {
                return true;
            }
        }
        return false;
    }

    /** RingRule.may_hold: enough accounts in 30 days but no crowd, and enough of them did something here. */
    private boolean mayHold(EntitySketch sketch, double accounts30d) {
        int fewest = fewest();
        if (!(fewest <= accounts30d && accounts30d <= crowdAccounts30d)) {
            return false;
        }
        long since = sketch.nowS - RING_WINDOW_S;
        int acting = 0;
        for (int i = 0; i < sketch.n; i++) {
            if (sketch.last[i] > since && (sketch.flags[i] != 0 || sketch.fails[i] != 0)) {
                acting++;
            }
        }
        return acting >= fewest;
    }

    /** ring_evidence's together, accounts_seen and failing_repeatedly, then RingRule.holds. */
    private boolean holds(EntitySketch sketch, int[] recent, double accounts30d) {
        int seen = recent.length;
        if (accounts30d > crowdAccounts30d || seen == 0) {
            return false;
        }
        // Counter(item for a in recent for item in a.pushed()), in insertion order
        int[] itemKeys = new int[2 * seen];
        int[] itemCounts = new int[2 * seen];
        int distinct = 0;
        for (int i : recent) {
            for (int item : pushed(sketch, i)) {
                int at = indexOf(itemKeys, distinct, item);
                if (at < 0) {
                    itemKeys[distinct] = item;
                    itemCounts[distinct++] = 1;
                } else {
                    itemCounts[at]++;
                }
            }
        }
        int top = 0;  // most_common(1): the first inserted of the most counted
        int topCount = 0;
        for (int k = 0; k < distinct; k++) {
            if (itemCounts[k] > topCount) {
                top = itemKeys[k];
                topCount = itemCounts[k];
            }
        }
        int signedUp = 0;
        int sameItem = 0;
        int failedPayments = 0;
        int failedLogins = 0;
        int mixed = 0;
        int failing = 0;
        for (int i : recent) {
            boolean signed = (sketch.flags[i] & EntitySketch.NEW) != 0;
            int payments = sketch.fails[i] & 15;
            int logins = sketch.fails[i] >> 4;
            boolean shared = false;
            for (int item : pushed(sketch, i)) {
                shared |= itemCounts[indexOf(itemKeys, distinct, item)] >= 2;
            }
            signedUp += signed ? 1 : 0;
            sameItem += top != 0 && (sketch.items[i] == top || sketch.earlierItems[i] == top) ? 1 : 0;
            failedPayments += payments > 0 ? 1 : 0;
            failedLogins += logins > 0 ? 1 : 0;
            mixed += signed || payments > 0 || shared ? 1 : 0;
            failing += payments >= REPEATED_FAILURES ? 1 : 0;
        }
        int together = Math.max(Math.max(signedUp, sameItem), Math.max(failedPayments, failedLogins));
        if (mixed > together) {
            together = mixed;  // ACTED_TOGETHER joins more accounts than any one thing
        }
        if (together >= minAccounts && (double) together / seen >= minShare) {
            return true;
        }
        return minFailing != NO_MIN_FAILING && failing >= minFailing && (double) failing / seen >= minShare;
    }

    /** linked_evidence is not None: a recent account linked by a device ring, and another that acted like them. */
    private static boolean actLikeLinked(EntitySketch sketch, int[] recent) {
        int[] linkedItems = new int[2 * recent.length];
        int items = 0;
        boolean anyLinked = false;
        boolean signedUp = false;
        boolean failed = false;
        for (int i : recent) {
            if ((sketch.flags[i] & EntitySketch.LINKED) != 0) {
                anyLinked = true;
                signedUp |= (sketch.flags[i] & EntitySketch.NEW) != 0;
                failed |= (sketch.fails[i] & 15) > 0;
                for (int item : pushed(sketch, i)) {
                    linkedItems[items++] = item;
                }
            }
        }
        if (!anyLinked) {
            return false;
        }
        for (int i : recent) {
            if ((sketch.flags[i] & EntitySketch.LINKED) != 0) {
                continue;
            }
            if ((signedUp && (sketch.flags[i] & EntitySketch.NEW) != 0) || (failed && (sketch.fails[i] & 15) > 0)) {
                return true;
            }
            for (int item : pushed(sketch, i)) {
                if (indexOf(linkedItems, items, item) >= 0) {
                    return true;
                }
            }
        }
        return false;
    }

    /** accounts_in(RING_WINDOW_S): the remembered accounts seen within it, the earliest first (a stable sort). */
    static int[] recentAccounts(EntitySketch sketch) {
        long since = sketch.nowS - RING_WINDOW_S;
        int[] found = new int[sketch.n];
        int count = 0;
        for (int i = 0; i < sketch.n; i++) {
            if (sketch.last[i] > since) {
                int at = count++;
                while (at > 0 && sketch.first[found[at - 1]] > sketch.first[i]) {
                    found[at] = found[at - 1];
                    at--;
                }
                found[at] = i;
            }
        }
        return java.util.Arrays.copyOf(found, count);
    }

    /** RecentAccount.pushed(): the last item, then the one before it, leaving out none (0). */
    private static int[] pushed(EntitySketch sketch, int i) {
        int item = sketch.items[i];
        int earlier = sketch.earlierItems[i];
        if (item != 0) {
            return earlier != 0 ? new int[] {item, earlier} : new int[] {item};
        }
        return earlier != 0 ? new int[] {earlier} : new int[0];
    }

    private static int indexOf(int[] values, int length, int value) {
        for (int k = 0; k < length; k++) {
            if (values[k] == value) {
                return k;
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return "RingRule(" + minAccounts + ", " + minShare + ", " + crowdAccounts30d + ", "
            + (minFailing == NO_MIN_FAILING ? "None" : Integer.toString(minFailing)) + ")";
    }
}
