/*
 * tap_echo: a TCP echo server on a Linux TAP device, using only the sanstcp C API and poll(2).
 *
 * The program opens the TAP device (it must exist, e.g. `ip tuntap add dev tap0 mode tap`, or
 * the process needs CAP_NET_ADMIN to create it), puts a stcp_link (Ethernet, ARP, NDP) and a
 * stcp_stack behind it, listens on ADDR:PORT and echoes every byte back on every connection
 * until the peer closes. The kernel side of the TAP device is another host on the same
 * Ethernet: give it an address in the same network, e.g. 10.77.0.1/24, and connect to ADDR.
 *
 * Usage: tap_echo [-i IFNAME] [-a ADDR] [-p PORT] [-m MAC] [-n CONNS] [-t SECONDS] [-v]
 *   -i IFNAME   TAP device (default tap0)
 *   -a ADDR     the stack's IPv4 or IPv6 address (default 10.77.0.2)
 *   -p PORT     port to listen on (default 7)
 *   -m MAC      the stack's MAC address (default 02:00:00:77:00:02)
 *   -n CONNS    exit after CONNS connections have been served and closed (default: never)
 *   -t SECONDS  exit after SECONDS seconds (default: never)
 *   -v          log events
 * SIGINT and SIGTERM end the program cleanly. It prints "listening on ADDR:PORT" once ready.
 * Exit status: 0 on a clean end, 1 on an error.
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <sanstcp.h>

#define MAX_CONNS 64
#define CHUNK 65536

/* One echo connection: bytes read but not yet taken by stcp_send wait in `pending`. */
typedef struct {
    int used;
    uint64_t id;
    uint8_t pending[CHUNK];
    size_t off, len;
    uint64_t echoed;
} conn;

static conn conns[MAX_CONNS];
static volatile sig_atomic_t stop;
static int verbose;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int open_tap(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        perror("open /dev/net/tun");
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (strlen(name) >= sizeof ifr.ifr_name) {
        fprintf(stderr, "interface name too long: %s\n", name);
        close(fd);
        return -1;
    }
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        perror("ioctl TUNSETIFF");
        close(fd);
        return -1;
    }
    return fd;
}

static int parse_mac(const char *text, uint8_t mac[6]) {
    unsigned b[6];
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t)b[i];
    }
    return 0;
}

static conn *find(uint64_t id) {
    for (int i = 0; i < MAX_CONNS; i++) {
        if (conns[i].used && conns[i].id == id) {
            return &conns[i];
        }
    }
    return NULL;
}

/* Releases a connection's id and slot. */
static void release(stcp_stack *s, conn *c, int graceful, uint64_t *served) {
    if (graceful) {
        stcp_close(s, c->id); /* FIN after the echoed bytes still queued */
    } else {
        stcp_abort(s, c->id);
    }
    if (verbose) {
        fprintf(stderr, "conn %" PRIx64 ": %s after echoing %" PRIu64 " bytes\n", c->id,
                graceful ? "closed" : "aborted", c->echoed);
    }
    c->used = 0;
    (*served)++;
}

/* Moves bytes from the receive side to the send side until one of them would block. */
static void service(stcp_stack *s, conn *c, uint64_t *served) {
    for (;;) {
        while (c->off < c->len) {
            ptrdiff_t n = stcp_send(s, c->id, c->pending + c->off, c->len - c->off);
            if (n == STCP_ERR_WOULD_BLOCK) {
                return; /* STCP_EVENT_WRITABLE brings us back */
            }
            if (n < 0) {
                release(s, c, 0, served);
                return;
            }
            c->off += (size_t)n;
            c->echoed += (uint64_t)n;
        }
        ptrdiff_t n = stcp_recv(s, c->id, c->pending, sizeof c->pending);
        if (n == STCP_ERR_WOULD_BLOCK) {
            return; /* STCP_EVENT_READABLE brings us back */
        }
        if (n == 0) {
            release(s, c, 1, served); /* the peer closed and everything was echoed */
            return;
        }
        if (n < 0) {
            if (verbose) {
                fprintf(stderr, "conn %" PRIx64 ": recv: %s\n", c->id, stcp_strerror((int)n));
            }
            release(s, c, n == STCP_ERR_NOT_CONNECTED ? 1 : 0, served);
            return;
        }
        c->off = 0;
        c->len = (size_t)n;
    }
}

static void handle_events(stcp_stack *s, uint64_t listener, uint64_t *served) {
    stcp_event ev;
    while (stcp_poll_event(s, &ev) == STCP_OK) {
        if (ev.kind == STCP_EVENT_INCOMING) {
            uint64_t id;
            while (stcp_accept(s, listener, &id) == STCP_OK) {
                conn *c = NULL;
                for (int i = 0; i < MAX_CONNS && c == NULL; i++) {
                    if (!conns[i].used) {
                        c = &conns[i];
                    }
                }
                if (c == NULL) {
                    stcp_abort(s, id); /* full */
                    continue;
                }
                memset(c, 0, sizeof *c);
                c->used = 1;
                c->id = id;
                if (verbose) {
                    stcp_tcp_info info;
                    char peer[64] = "?";
                    if (stcp_conn_info(s, id, &info) == STCP_OK) {
                        stcp_addr_format((const struct sockaddr *)&info.remote, sizeof info.remote, peer,
                                         sizeof peer);
                    }
                    fprintf(stderr, "conn %" PRIx64 ": accepted from %s\n", id, peer);
                }
                service(s, c, served);
            }
            continue;
        }
        conn *c = find(ev.conn);
        if (c == NULL) {
            continue; /* already released */
        }
        if (ev.kind == STCP_EVENT_CLOSED && ev.reason != STCP_CLOSE_NORMAL) {
            if (verbose) {
                fprintf(stderr, "conn %" PRIx64 ": ended (reason %u)\n", c->id, (unsigned)ev.reason);
            }
            release(s, c, 1, served); /* stcp_close releases the id of a failed connection */
            continue;
        }
        service(s, c, served);
    }
}

/* Writes every frame the link has; returns -1 on a device error. */
static int flush(int fd, stcp_link *link, stcp_stack *s, uint8_t *frame, size_t cap) {
    for (;;) {
        ptrdiff_t n = stcp_link_poll_frame(link, s, now_ns(), frame, cap);
        if (n == STCP_ERR_DONE) {
            return 0;
        }
        if (n < 0) {
            fprintf(stderr, "stcp_link_poll_frame: %s\n", stcp_strerror((int)n));
            return -1;
        }
        if (write(fd, frame, (size_t)n) < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            perror("write");
            return -1; /* EAGAIN: the frame is lost, as on a busy wire; TCP retransmits */
        }
    }
}

/*
 * One turn of the loop: sleep in poll(2) until a frame arrives or the next deadline (at most
 * `max_wait_ms`), feed the frames to the link, run due timers, handle events, and write out
 * every frame the link has. Returns 0, or 1 on a device error.
 */
static int step(int fd, stcp_link *link, stcp_stack *s, uint64_t listener, uint8_t *frame, size_t cap,
                int max_wait_ms, uint64_t *served) {
    uint64_t now = now_ns();
    uint64_t deadline = stcp_link_poll_timeout(link, s);
    int wait_ms = max_wait_ms;
    if (deadline != UINT64_MAX) {
        uint64_t ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
        wait_ms = ms < (uint64_t)max_wait_ms ? (int)ms : max_wait_ms;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    int ready = poll(&pfd, 1, wait_ms);
    if (ready < 0) {
        if (errno == EINTR) {
            return 0;
        }
        perror("poll");
        return 1;
    }
    if (ready > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
        fprintf(stderr, "the TAP device failed\n");
        return 1;
    }
    if (ready > 0) {
        /* A batch of frames, answering after each so that queues stay short. */
        for (int i = 0; i < 256; i++) {
            ssize_t n = read(fd, frame, cap);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    perror("read");
                    return 1;
                }
                break;
            }
            stcp_link_handle_frame(link, s, now_ns(), frame, (size_t)n);
            handle_events(s, listener, served);
            if (flush(fd, link, s, frame, cap) != 0) {
                return 1;
            }
        }
    }
    now = now_ns();
    if (stcp_link_poll_timeout(link, s) <= now) {
        stcp_link_handle_timeout(link, s, now);
    }
    handle_events(s, listener, served);
    return flush(fd, link, s, frame, cap) != 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *ifname = "tap0", *addr_text = "10.77.0.2", *mac_text = "02:00:00:77:00:02";
    unsigned long port = 7, max_served = 0, max_seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "i:a:p:m:n:t:v")) != -1) {
        switch (opt) {
        case 'i': ifname = optarg; break;
        case 'a': addr_text = optarg; break;
        case 'p': port = strtoul(optarg, NULL, 10); break;
        case 'm': mac_text = optarg; break;
        case 'n': max_served = strtoul(optarg, NULL, 10); break;
        case 't': max_seconds = strtoul(optarg, NULL, 10); break;
        case 'v': verbose = 1; break;
        default:
            fprintf(stderr, "usage: %s [-i IFNAME] [-a ADDR] [-p PORT] [-m MAC] [-n CONNS] [-t SECONDS] [-v]\n",
                    argv[0]);
            return 1;
        }
    }

    /* The stack. */
    stcp_config cfg;
    stcp_config_default(&cfg);
    if (stcp_addr_parse(addr_text, &cfg.addresses[0], NULL) != STCP_OK || port == 0 || port > 65535) {
        fprintf(stderr, "bad address or port: %s %lu\n", addr_text, port);
        return 1;
    }
    cfg.address_count = 1;
    uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
    int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (rnd < 0 || read(rnd, cfg.secret, sizeof cfg.secret) != (ssize_t)sizeof cfg.secret) {
        fprintf(stderr, "cannot read /dev/urandom\n");
        return 1;
    }
    close(rnd);
    cfg.seed = seed;
    stcp_stack *s = stcp_stack_new(&cfg);
    if (s == NULL) {
        fprintf(stderr, "stcp_stack_new: %s\n", stcp_strerror(stcp_config_validate(&cfg)));
        return 1;
    }

    /* The link. */
    stcp_link_config lcfg;
    stcp_link_config_default(&lcfg);
    if (parse_mac(mac_text, lcfg.hardware_addr) != 0) {
        fprintf(stderr, "bad MAC address: %s\n", mac_text);
        return 1;
    }
    stcp_link *link = stcp_link_new(&lcfg);
    if (link == NULL) {
        fprintf(stderr, "stcp_link_new: %s\n", stcp_strerror(stcp_link_config_validate(&lcfg)));
        return 1;
    }

    int fd = open_tap(ifname);
    if (fd < 0) {
        return 1;
    }

    /* The listener: the configured address and the port. */
    struct sockaddr_storage local;
    size_t local_len = 0;
    stcp_addr_parse(addr_text, &local, &local_len);
    struct sockaddr_storage with_port = local;
    if (with_port.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&with_port)->sin6_port = htons((uint16_t)port);
    } else {
        ((struct sockaddr_in *)&with_port)->sin_port = htons((uint16_t)port);
    }
    uint64_t listener = 0;
    int rc = stcp_listen(s, (const struct sockaddr *)&with_port, local_len, NULL, &listener);
    if (rc != STCP_OK) {
        fprintf(stderr, "stcp_listen: %s\n", stcp_strerror(rc));
        return 1;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ptrdiff_t cap = stcp_link_frame_buffer_len(link, s);
    uint8_t *frame = malloc((size_t)cap);
    if (frame == NULL) {
        return 1;
    }
    stcp_link_announce(link, s);
    if (flush(fd, link, s, frame, (size_t)cap) != 0) {
        return 1;
    }
    char shown[64];
    stcp_addr_format((const struct sockaddr *)&with_port, local_len, shown, sizeof shown);
    printf("listening on %s (%s, %s)\n", shown, ifname, mac_text);
    fflush(stdout);

    uint64_t start = now_ns(), served = 0;
    int status = 0;
    while (!stop && status == 0) {
        if (max_served != 0 && served >= max_served) {
            break;
        }
        if (max_seconds != 0 && now_ns() - start > (uint64_t)max_seconds * 1000000000ULL) {
            fprintf(stderr, "time limit reached\n");
            status = 1;
            break;
        }
        status = step(fd, link, s, listener, frame, (size_t)cap, 1000, &served);
    }
    /* Let the last FINs and ACKs through (at most 2 s) until the stack holds no connection. */
    uint64_t end = now_ns() + 2000000000ULL;
    while (status == 0 && !stop && stcp_connection_count(s) > 0 && now_ns() < end) {
        status = step(fd, link, s, listener, frame, (size_t)cap, 10, &served);
    }

    stcp_stack_counters st;
    stcp_link_counters ls;
    stcp_stats(s, &st);
    stcp_link_stats(link, &ls);
    printf("served %" PRIu64 " connections; %" PRIu64 " bytes in, %" PRIu64 " bytes out; %" PRIu64
           " frames in, %" PRIu64 " out; %" PRIu64 " retransmitted\n",
           served, st.bytes_received, st.bytes_sent, ls.frames_in, ls.frames_out, st.retransmitted_segments);
    free(frame);
    close(fd);
    stcp_link_free(link);
    stcp_stack_free(s);
    return status;
}
