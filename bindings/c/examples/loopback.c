/*
 * loopback: two sanstcp stacks in one process, exchanging IP packets in memory under a fake
 * clock. A client connects to a server, sends BYTES bytes (default 16 MiB) of a pseudo-random
 * stream, and closes; the server checks every byte, reads the end of stream, and closes too.
 * The program then runs the clock until both stacks hold no connection (TIME-WAIT included).
 *
 * Usage: loopback [BYTES] [-q] [-d N]
 *   -q    quiet: no event log
 *   -d N  drop every Nth packet on the way (deterministic loss: exercises retransmission
 *         timers and fast retransmit under the fake clock)
 * Exit status: 0 when every byte arrived intact and both ends closed cleanly, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanstcp.h>

#define MTU 1500

static int quiet;
static uint64_t drop_every; /* 0: no loss */

/* Aborts the program when a call that must succeed fails. */
#define MUST(call)                                                                              \
    do {                                                                                        \
        long long must_rc_ = (long long)(call);                                                 \
        if (must_rc_ < 0) {                                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s (%lld)\n", __FILE__, __LINE__, #call,         \
                    stcp_strerror((int)must_rc_), must_rc_);                                    \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

/* The byte stream: xorshift64*, one byte per step, the same on both sides. */
typedef struct {
    uint64_t state;
} stream;

static uint8_t stream_next(stream *s) {
    s->state ^= s->state >> 12;
    s->state ^= s->state << 25;
    s->state ^= s->state >> 27;
    return (uint8_t)((s->state * 0x2545F4914F6CDD1DULL) >> 56);
}

static stcp_stack *make_stack(const char *addr, uint64_t seed) {
    stcp_config cfg;
    MUST(stcp_config_default(&cfg));
    MUST(stcp_addr_parse(addr, &cfg.addresses[0], NULL));
    cfg.address_count = 1;
    for (int i = 0; i < 16; i++) {
        cfg.secret[i] = (uint8_t)(seed * 31 + (uint64_t)i);
    }
    cfg.seed = seed;
    cfg.mtu = MTU;
    stcp_stack *s = stcp_stack_new(&cfg);
    if (s == NULL) {
        fprintf(stderr, "stcp_stack_new: %s\n", stcp_strerror(stcp_config_validate(&cfg)));
        exit(1);
    }
    return s;
}

/* Moves every packet `from` has for `to`; returns how many moved. */
static long deliver(stcp_stack *from, stcp_stack *to, uint64_t now, uint8_t *buf, uint64_t *count) {
    long moved = 0;
    for (;;) {
        ptrdiff_t n = stcp_poll_transmit(from, now, buf, MTU);
        if (n == STCP_ERR_DONE) {
            return moved;
        }
        MUST(n);
        moved++;
        (*count)++;
        if (drop_every != 0 && *count % drop_every == 0) {
            continue; /* lost on the wire */
        }
        int r = stcp_handle_packet(to, now, buf, (size_t)n);
        MUST(r);
        if (r > 0 && !quiet) {
            fprintf(stderr, "dropped: %s\n", stcp_drop_reason_name(r));
        }
    }
}

static const char *event_name(stcp_event_kind k) {
    switch (k) {
    case STCP_EVENT_CONNECTED: return "connected";
    case STCP_EVENT_INCOMING: return "incoming";
    case STCP_EVENT_READABLE: return "readable";
    case STCP_EVENT_WRITABLE: return "writable";
    case STCP_EVENT_PEER_CLOSED: return "peer-closed";
    case STCP_EVENT_CLOSED: return "closed";
    case STCP_EVENT_STATE_CHANGED: return "state-changed";
    default: return "?";
    }
}

int main(int argc, char **argv) {
    uint64_t total = 16u << 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            drop_every = strtoull(argv[++i], NULL, 10);
        } else {
            char *end = NULL;
            total = strtoull(argv[i], &end, 10);
            if (end == argv[i] || *end != '\0') {
                fprintf(stderr, "usage: %s [BYTES] [-q] [-d N]\n", argv[0]);
                return 2;
            }
        }
    }
    printf("sanstcp %s: loopback transfer of %" PRIu64 " bytes", stcp_version(), total);
    if (drop_every != 0) {
        printf(", dropping every %" PRIu64 "th packet", drop_every);
    }
    printf("\n");

    stcp_stack *client = make_stack("10.0.0.1", 1);
    stcp_stack *server = make_stack("10.0.0.2", 2);

    struct sockaddr_storage addr;
    size_t addr_len = 0;
    uint64_t listener = 0, cconn = 0, sconn = 0;
    int have_sconn = 0, connected = 0, client_open = 1, server_open = 0, eof = 0;
    MUST(stcp_addr_parse("10.0.0.2:7", &addr, &addr_len));
    MUST(stcp_listen(server, (const struct sockaddr *)&addr, addr_len, NULL, &listener));
    uint64_t now = 0;
    MUST(stcp_connect(client, now, (const struct sockaddr *)&addr, addr_len, NULL, &cconn));

    uint8_t *packet = malloc(MTU);
    uint8_t *chunk = malloc(65536);
    uint8_t *rx = malloc(65536);
    if (packet == NULL || chunk == NULL || rx == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    stream tx_stream = {0x9E3779B97F4A7C15ULL}, rx_stream = {0x9E3779B97F4A7C15ULL};
    uint64_t sent = 0, received = 0, packets = 0, chunk_len = 0, chunk_off = 0;
    int failed = 0;

    for (long round = 0; round < 50000000L; round++) {
        long progress = 0;

        /* Client: queue as much of the stream as the send buffer takes, then close. */
        while (connected && client_open && sent < total) {
            if (chunk_off == chunk_len) {
                uint64_t want = total - sent < 65536 ? total - sent : 65536;
                for (uint64_t i = 0; i < want; i++) {
                    chunk[i] = stream_next(&tx_stream);
                }
                chunk_len = want;
                chunk_off = 0;
            }
            ptrdiff_t n = stcp_send(client, cconn, chunk + chunk_off, (size_t)(chunk_len - chunk_off));
            if (n == STCP_ERR_WOULD_BLOCK) {
                break;
            }
            MUST(n);
            chunk_off += (uint64_t)n;
            sent += (uint64_t)n;
            progress += n;
        }
        if (connected && client_open && sent == total) {
            MUST(stcp_close(client, cconn)); /* FIN after the queued data; the id is released */
            client_open = 0;
        }

        progress += deliver(client, server, now, packet, &packets);
        progress += deliver(server, client, now, packet, &packets);

        stcp_event ev;
        while (stcp_poll_event(client, &ev) == STCP_OK) {
            if (!quiet && ev.kind != STCP_EVENT_WRITABLE) {
                fprintf(stderr, "[%8.3f s] client: %s\n", (double)now / 1e9, event_name(ev.kind));
            }
            if (ev.kind == STCP_EVENT_CONNECTED && ev.conn == cconn) {
                connected = 1;
                progress++;
            }
        }
        while (stcp_poll_event(server, &ev) == STCP_OK) {
            if (!quiet && ev.kind != STCP_EVENT_READABLE) {
                fprintf(stderr, "[%8.3f s] server: %s\n", (double)now / 1e9, event_name(ev.kind));
            }
            if (ev.kind == STCP_EVENT_INCOMING && !have_sconn) {
                MUST(stcp_accept(server, listener, &sconn));
                have_sconn = 1;
                server_open = 1;
                progress++;
            }
        }

        /* Server: read and check everything available. */
        while (server_open && !eof) {
            ptrdiff_t n = stcp_recv(server, sconn, rx, 65536);
            if (n == STCP_ERR_WOULD_BLOCK) {
                break;
            }
            MUST(n);
            if (n == 0) {
                eof = 1;
                break;
            }
            for (ptrdiff_t i = 0; i < n; i++) {
                if (rx[i] != stream_next(&rx_stream)) {
                    fprintf(stderr, "byte %" PRIu64 " differs\n", received + (uint64_t)i);
                    failed = 1;
                    break;
                }
            }
            received += (uint64_t)n;
            progress += n;
            if (failed) {
                break;
            }
        }
        if (failed) {
            break;
        }
        if (server_open && eof) {
            MUST(stcp_close(server, sconn));
            server_open = 0;
            progress++;
        }

        if (!client_open && !server_open && eof && stcp_connection_count(client) == 0 &&
            stcp_connection_count(server) == 0) {
            break;
        }
        if (progress == 0) {
            /* Nothing moved: jump the fake clock to the next deadline. */
            uint64_t a = stcp_poll_timeout(client), b = stcp_poll_timeout(server);
            uint64_t next = a < b ? a : b;
            if (next == UINT64_MAX) {
                fprintf(stderr, "stalled: no deadline and nothing to do\n");
                failed = 1;
                break;
            }
            if (next > now) {
                now = next;
            }
            MUST(stcp_handle_timeout(client, now));
            MUST(stcp_handle_timeout(server, now));
        }
    }

    stcp_stack_counters cs, ss;
    MUST(stcp_stats(client, &cs));
    MUST(stcp_stats(server, &ss));
    printf("sent %" PRIu64 ", received %" PRIu64 " bytes in %" PRIu64
           " packets; virtual time %.3f s; retransmitted %" PRIu64 "; drops %" PRIu64 "/%" PRIu64 "\n",
           sent, received, packets, (double)now / 1e9, cs.retransmitted_segments,
           cs.dropped_total, ss.dropped_total);
    int ok = !failed && eof && received == total && sent == total && ss.bytes_received == total &&
             stcp_connection_count(client) == 0 && stcp_connection_count(server) == 0;
    printf("%s\n", ok ? "OK: byte-exact, both ends closed" : "FAILED");

    free(packet);
    free(chunk);
    free(rx);
    stcp_stack_free(client);
    stcp_stack_free(server);
    return ok ? 0 : 1;
}
