package shopguard.udfs.entities;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;
import java.util.zip.CRC32;

/**
 * One device's or IP's bounded state and its figures: a port of udfs/entity_sketch.py's EntitySketch, byte for byte.
 *
 * <p>Same windows, same recent-accounts list (16, least recently seen evicted first), same HyperLogLog registers
 * and hash, same failure buckets, and the same bytes ({@link #toBytes()} writes what the Python sketch's to_bytes
 * writes, layout tag "sg\x01" first), so either side reads the other's state. What it does not keep: nothing the
 * Python sketch keeps is left out; the ring alerts that read it (udfs/entity_rings.py) are not ported.
 *
 * <p>No Flink class is used here, so the unit tests replay events through it with {@link SketchReplay}.
 */
public final class EntitySketch {
    static final int HOUR_S = 3600;
    static final int DAY_S = 86400;
    static final int[] WINDOWS = {HOUR_S, DAY_S, 30 * DAY_S};
    static final int RECENT_ACCOUNTS = 16;
    static final int REGISTERS = 16;
    static final int BUCKETS = 3;
    static final int MAX_ID_BYTES = 64;
    static final byte[] TAG = {'s', 'g', 1};
    static final Set<String> ITEM_EVENTS = Set.of("purchase", "add_to_cart", "checkout", "favorite");
    static final String FAILED_PAYMENT = "payment_failed";
    static final String FAILED_LOGIN = "login_failed";
    static final String SIGNUP = "signup";
    static final int NEW = 1;
    static final int CARTED = 2;
    static final int LINKED = 4;
    static final double ALPHA = 0.673;
    static final int DAY_WINDOW = 1;
    static final double STALE = -1.0;
    /** The number of figures {@link #observe} returns, in EntityFigures' order. */
    public static final int FIGURES = 7;

    long nowS;
    long evictedS;
    final long[] windowIndex = new long[WINDOWS.length];
    final double[] estimates = new double[WINDOWS.length];
    final byte[][] registers = new byte[WINDOWS.length][BUCKETS * REGISTERS];
    final int[] failures = new int[2 * BUCKETS];
    int n;
    final String[] accounts = new String[RECENT_ACCOUNTS];
    final long[] first = new long[RECENT_ACCOUNTS];
    final long[] last = new long[RECENT_ACCOUNTS];
    final int[] flags = new int[RECENT_ACCOUNTS];
    final int[] fails = new int[RECENT_ACCOUNTS];
    final int[] items = new int[RECENT_ACCOUNTS];
    final int[] earlierItems = new int[RECENT_ACCOUNTS];

    /**
     * Count one event of {@code account} and return the figures: accounts 1 h, 24 h, 30 d, new accounts 24 h,
     * failed payments 24 h, failed logins 24 h, same-item accounts 24 h.
     */
    public double[] observe(String account, String eventType, long tsMs, String itemId, boolean signedUp,
                            boolean linked) {
        long tsS = Math.floorDiv(tsMs, 1000);
        if (tsS > nowS) {
            nowS = tsS;
            rotate();
        }
        account = storedId(account);
        countDistinct(account);
        int item = itemId != null && !itemId.isEmpty() && ITEM_EVENTS.contains(eventType) ? itemHash(itemId) : 0;
        remember(account, tsS, eventType, item, signedUp || SIGNUP.equals(eventType), linked);
        if (FAILED_PAYMENT.equals(eventType)) {
            failures[0] = Math.min(failures[0] + 1, 0xFFFF);
        } else if (FAILED_LOGIN.equals(eventType)) {
            failures[BUCKETS] = Math.min(failures[BUCKETS] + 1, 0xFFFF);
        }
        return figures(item);
    }

    double[] figures(int item) {
        long dayAgo = nowS - DAY_S;
        int fresh = 0;
        int sameItem = 0;
        for (int i = 0; i < n; i++) {
            if (last[i] > dayAgo) {
                if ((flags[i] & NEW) != 0 && first[i] > dayAgo) {
                    fresh++;
                }
                if (item != 0 && items[i] == item) {
                    sameItem++;
                }
            }
        }
        return new double[] {
            distinctAccounts(0), distinctAccounts(1), distinctAccounts(2), fresh,
            failures[0] + failures[1] + failures[2], failures[3] + failures[4] + failures[5], sameItem,
        };
    }

    double distinctAccounts(int window) {
        long since = nowS - WINDOWS[window];
        int listed = 0;
        for (int i = 0; i < n; i++) {
            if (since < last[i]) {
                listed++;
            }
        }
        if (evictedS <= since) {
            return listed;
        }
        if (estimates[window] == STALE) {
            estimates[window] = estimate(registers[window]);
        }
        return Math.max(listed, Math.rint(estimates[window]));  // Python's round(): half to even
    }

    private void rotate() {
        for (int w = 0; w < WINDOWS.length; w++) {
            long index = Math.floorDiv(nowS, WINDOWS[w] / 2);
            int shift = (int) Math.min(index - windowIndex[w], BUCKETS);
            if (shift > 0) {
                windowIndex[w] = index;
                byte[] shifted = new byte[BUCKETS * REGISTERS];
                System.arraycopy(registers[w], 0, shifted, shift * REGISTERS, (BUCKETS - shift) * REGISTERS);
                System.arraycopy(shifted, 0, registers[w], 0, shifted.length);
                estimates[w] = STALE;
                if (w == DAY_WINDOW) {
                    for (int part = 0; part < 2; part++) {
                        int base = part * BUCKETS;
                        for (int b = BUCKETS - 1; b >= 0; b--) {
                            failures[base + b] = b >= shift ? failures[base + b - shift] : 0;
                        }
                    }
                }
            }
        }
    }

    private void countDistinct(String account) {
        long mixed = (crc32(utf8(account)) * 0x9E3779B1L) & 0xFFFFFFFFL;
        int register = (int) (mixed >>> 28);
        int rank = 29 - (64 - Long.numberOfLeadingZeros(mixed & 0x0FFFFFFFL));
        for (int w = 0; w < WINDOWS.length; w++) {
            if (registers[w][register] < rank) {
                registers[w][register] = (byte) rank;
                estimates[w] = STALE;
            }
        }
    }

    private void remember(String account, long tsS, String eventType, int item, boolean signedUp, boolean linked) {
        int i = -1;
        for (int j = 0; j < n; j++) {
            if (accounts[j].equals(account)) {
                i = j;
                break;
            }
        }
        if (i < 0) {
            if (n >= RECENT_ACCOUNTS) {
                int oldest = 0;
                for (int j = 1; j < n; j++) {
                    if (last[j] < last[oldest]) {
                        oldest = j;
                    }
                }
                evictedS = Math.max(evictedS, last[oldest]);
                remove(oldest);
            }
            accounts[n] = account;
            first[n] = tsS;
            last[n] = tsS;
            flags[n] = 0;
            fails[n] = 0;
            items[n] = 0;
            earlierItems[n] = 0;
            i = n++;
        }
        if (tsS < first[i]) {
            first[i] = tsS;
        }
        if (tsS > last[i]) {
            last[i] = tsS;
        }
        if (signedUp) {
            flags[i] |= NEW;
        }
        if (linked) {
            flags[i] |= LINKED;
        }
        if (item != 0) {
            flags[i] |= CARTED;
            if (item != items[i]) {
                earlierItems[i] = items[i];
                items[i] = item;
            }
        }
        if (FAILED_PAYMENT.equals(eventType)) {
            fails[i] = (fails[i] & 0xF0) | Math.min((fails[i] & 0x0F) + 1, 15);
        } else if (FAILED_LOGIN.equals(eventType)) {
            fails[i] = (fails[i] & 0x0F) | (Math.min((fails[i] >> 4) + 1, 15) << 4);
        }
    }

    private void remove(int at) {
        int tail = n - at - 1;
        System.arraycopy(accounts, at + 1, accounts, at, tail);
        System.arraycopy(first, at + 1, first, at, tail);
        System.arraycopy(last, at + 1, last, at, tail);
        System.arraycopy(flags, at + 1, flags, at, tail);
        System.arraycopy(fails, at + 1, fails, at, tail);
        System.arraycopy(items, at + 1, items, at, tail);
        System.arraycopy(earlierItems, at + 1, earlierItems, at, tail);
        n--;
    }

    /** The state's bytes, as the Python sketch's to_bytes writes them. */
    public byte[] toBytes() {
        byte[] names = utf8(String.join("\u0000", Arrays.copyOf(accounts, n)));
        int windowSize = 4 + BUCKETS * REGISTERS;
        int size = TAG.length + 9 + WINDOWS.length * windowSize + 2 * 2 * BUCKETS + n * (4 + 4 + 1 + 1 + 2 + 2)
            + names.length;
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.put(TAG).putInt((int) nowS).putInt((int) evictedS).put((byte) n);
        for (int w = 0; w < WINDOWS.length; w++) {
            out.putFloat((float) estimates[w]).put(registers[w]);
        }
        for (int f : failures) {
            out.putShort((short) f);
        }
        for (int i = 0; i < n; i++) {
            out.putInt((int) first[i]);
        }
        for (int i = 0; i < n; i++) {
            out.putInt((int) last[i]);
        }
        for (int i = 0; i < n; i++) {
            out.put((byte) flags[i]);
        }
        for (int i = 0; i < n; i++) {
            out.put((byte) fails[i]);
        }
        for (int i = 0; i < n; i++) {
            out.putShort((short) items[i]);
        }
        for (int i = 0; i < n; i++) {
            out.putShort((short) earlierItems[i]);
        }
        return out.put(names).array();
    }

    /**
     * The sketch {@code data} holds (a fresh one for null); IllegalArgumentException for bytes of another layout
     * or damaged ones, which the keyed step turns into a fresh sketch, as the Python step does.
     */
    public static EntitySketch fromBytes(byte[] data) {
        EntitySketch sketch = new EntitySketch();
        if (data == null || data.length == 0) {
            return sketch;
        }
        if (data.length < TAG.length || data[0] != TAG[0] || data[1] != TAG[1] || data[2] != TAG[2]) {
            throw new IllegalArgumentException("not an entity sketch of layout 1");
        }
        try {
            ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            in.position(TAG.length);
            sketch.nowS = Integer.toUnsignedLong(in.getInt());
            sketch.evictedS = Integer.toUnsignedLong(in.getInt());
            int n = Byte.toUnsignedInt(in.get());
            if (n > RECENT_ACCOUNTS) {
                throw new IllegalArgumentException(n + " accounts announced");
            }
            for (int w = 0; w < WINDOWS.length; w++) {
                sketch.windowIndex[w] = Math.floorDiv(sketch.nowS, WINDOWS[w] / 2);
                sketch.estimates[w] = in.getFloat();
                in.get(sketch.registers[w]);
            }
            for (int f = 0; f < sketch.failures.length; f++) {
                sketch.failures[f] = Short.toUnsignedInt(in.getShort());
            }
            for (int i = 0; i < n; i++) {
                sketch.first[i] = Integer.toUnsignedLong(in.getInt());
            }
            for (int i = 0; i < n; i++) {
                sketch.last[i] = Integer.toUnsignedLong(in.getInt());
            }
            for (int i = 0; i < n; i++) {
                sketch.flags[i] = Byte.toUnsignedInt(in.get());
            }
            for (int i = 0; i < n; i++) {
                sketch.fails[i] = Byte.toUnsignedInt(in.get());
            }
            for (int i = 0; i < n; i++) {
                sketch.items[i] = Short.toUnsignedInt(in.getShort());
            }
            for (int i = 0; i < n; i++) {
                sketch.earlierItems[i] = Short.toUnsignedInt(in.getShort());
            }
            byte[] names = new byte[in.remaining()];
            in.get(names);
            if (n > 0) {
                String[] split = new String(names, StandardCharsets.UTF_8).split("\u0000", -1);
                if (split.length != n) {
                    throw new IllegalArgumentException(n + " accounts announced, " + split.length + " stored");
                }
                System.arraycopy(split, 0, sketch.accounts, 0, n);
            } else if (names.length != 0) {
                throw new IllegalArgumentException("no accounts announced, bytes stored");
            }
            sketch.n = n;
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("entity sketch cut short", e);
        }
        return sketch;
    }

    /** The account id as the sketch keeps it: at most 64 UTF-8 bytes (a longer one: its start, "~", a hash). */
    static String storedId(String account) {
        String clean = account.replace('\u0000', '?');
        byte[] raw = utf8(clean);
        if (raw.length <= MAX_ID_BYTES) {
            return clean;
        }
        byte[] digest = Blake2b.digest(raw, 8);
        StringBuilder hex = new StringBuilder();
        for (byte b : digest) {
            hex.append(String.format("%02x", b & 0xFF));
        }
        return decodeIgnoring(Arrays.copyOf(raw, MAX_ID_BYTES - 17)) + "~" + hex;
    }

    /** UTF-8 bytes to text, dropping an incomplete character at the end (Python's errors="ignore" on a cut). */
    private static String decodeIgnoring(byte[] bytes) {
        int end = bytes.length;
        int start = end;
        while (start > 0 && start > end - 4 && (bytes[start - 1] & 0xC0) == 0x80) {
            start--;
        }
        if (start > 0) {
            int lead = bytes[start - 1] & 0xFF;
            int need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (need > end - (start - 1)) {
                end = start - 1;
            }
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8);
    }

    static int itemHash(String itemId) {
        int hash = (int) (crc32(utf8(itemId)) & 0xFFFF);
        return hash == 0 ? 1 : hash;
    }

    static double estimate(byte[] registers) {
        double sum = 0.0;
        int empty = 0;
        for (int r = 0; r < REGISTERS; r++) {
            int rank = 0;
            for (int b = 0; b < BUCKETS; b++) {
                rank = Math.max(rank, registers[b * REGISTERS + r]);
            }
            sum += Math.pow(2.0, -rank);
            if (rank == 0) {
                empty++;
            }
        }
        double raw = ALPHA * REGISTERS * REGISTERS / sum;
        if (raw <= 2.5 * REGISTERS && empty > 0) {
            return REGISTERS * Math.log((double) REGISTERS / empty);
        }
        return raw;
    }

    private static long crc32(byte[] bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
