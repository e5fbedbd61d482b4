/*
 * test_api: the C API's error paths, through the C header and the built library: NULL
 * handles and arguments, stale and made-up connection and listener ids, use of a connection
 * after stcp_close / stcp_abort, buffers too small, bad addresses and configurations, and the
 * link layer's checks. Ends with "N passed, N failed"; exit status 0 when nothing failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sanstcp.h>

static int passed, failed;

#define CHECK_EQ(actual, expected)                                                              \
    do {                                                                                        \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                         \
        if (a_ == e_) {                                                                         \
            passed++;                                                                           \
        } else {                                                                                \
            failed++;                                                                           \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,     \
                    #actual, a_, #expected, e_);                                                \
        }                                                                                       \
    } while (0)

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (cond) {                                                                             \
            passed++;                                                                           \
        } else {                                                                                \
            failed++;                                                                           \
            fprintf(stderr, "%s:%d: %s is false\n", __FILE__, __LINE__, #cond);                 \
        }                                                                                       \
    } while (0)

#define MTU 1500

static stcp_stack *new_stack(const char *ip) {
    stcp_config cfg;
    if (stcp_config_default(&cfg) != STCP_OK || stcp_addr_parse(ip, &cfg.addresses[0], NULL) != STCP_OK) {
        abort();
    }
    cfg.address_count = 1;
    memset(cfg.secret, 0x5a, sizeof cfg.secret);
    cfg.mtu = MTU;
    stcp_stack *s = stcp_stack_new(&cfg);
    if (s == NULL) {
        abort();
    }
    return s;
}

static struct sockaddr_in v4(const char *ip_port) {
    struct sockaddr_storage ss;
    size_t len = 0;
    if (stcp_addr_parse(ip_port, &ss, &len) != STCP_OK || len != sizeof(struct sockaddr_in)) {
        abort();
    }
    struct sockaddr_in sin;
    memcpy(&sin, &ss, sizeof sin);
    return sin;
}

#define SA(x) ((const struct sockaddr *)(x))

/* Moves packets both ways until both stacks are quiet. */
static void pump(stcp_stack *a, stcp_stack *b, uint64_t now) {
    uint8_t buf[MTU];
    int any = 1;
    while (any) {
        any = 0;
        stcp_stack *pairs[2][2] = {{a, b}, {b, a}};
        for (int p = 0; p < 2; p++) {
            ptrdiff_t n;
            while ((n = stcp_poll_transmit(pairs[p][0], now, buf, sizeof buf)) > 0) {
                CHECK(stcp_handle_packet(pairs[p][1], now, buf, (size_t)n) >= 0);
                any = 1;
            }
            CHECK_EQ(n, STCP_ERR_DONE);
        }
    }
}

/* Runs the clock until neither stack has a deadline closer than `limit`; returns the time. */
static uint64_t run_timers(stcp_stack *a, stcp_stack *b, uint64_t now, int rounds) {
    for (int i = 0; i < rounds; i++) {
        pump(a, b, now);
        uint64_t ta = stcp_poll_timeout(a), tb = stcp_poll_timeout(b);
        uint64_t next = ta < tb ? ta : tb;
        if (next == UINT64_MAX) {
            break;
        }
        now = next > now ? next : now;
        stcp_handle_timeout(a, now);
        stcp_handle_timeout(b, now);
    }
    return now;
}

static void test_null_stack(void) {
    stcp_stack *n = NULL;
    struct sockaddr_in a = v4("10.0.0.1:80");
    uint64_t id = 0;
    uint8_t buf[MTU];
    stcp_event ev;
    stcp_tcp_info info;
    stcp_stack_counters st;

    CHECK(stcp_stack_new(NULL) == NULL);
    stcp_stack_free(NULL); /* accepted, does nothing */
    CHECK_EQ(stcp_listen(n, SA(&a), sizeof a, NULL, &id), STCP_ERR_NULL);
    CHECK_EQ(stcp_accept(n, 0, &id), STCP_ERR_NULL);
    CHECK_EQ(stcp_close_listener(n, 0), STCP_ERR_NULL);
    CHECK_EQ(stcp_connect(n, 0, SA(&a), sizeof a, NULL, &id), STCP_ERR_NULL);
    CHECK_EQ(stcp_handle_packet(n, 0, buf, 40), STCP_ERR_NULL);
    CHECK_EQ(stcp_handle_timeout(n, 0), STCP_ERR_NULL);
    CHECK_EQ(stcp_poll_transmit(n, 0, buf, sizeof buf), STCP_ERR_NULL);
    CHECK(stcp_poll_timeout(n) == UINT64_MAX);
    CHECK_EQ(stcp_poll_event(n, &ev), STCP_ERR_NULL);
    CHECK_EQ(stcp_send(n, 0, buf, 1), STCP_ERR_NULL);
    CHECK_EQ(stcp_recv(n, 0, buf, 1), STCP_ERR_NULL);
    CHECK_EQ(stcp_shutdown(n, 0), STCP_ERR_NULL);
    CHECK_EQ(stcp_close(n, 0), STCP_ERR_NULL);
    CHECK_EQ(stcp_abort(n, 0), STCP_ERR_NULL);
    CHECK_EQ(stcp_set_nodelay(n, 0, true), STCP_ERR_NULL);
    CHECK_EQ(stcp_set_keepalive(n, 0, 1000), STCP_ERR_NULL);
    CHECK_EQ(stcp_conn_info(n, 0, &info), STCP_ERR_NULL);
    CHECK_EQ(stcp_stats(n, &st), STCP_ERR_NULL);
    CHECK_EQ(stcp_connection_count(n), STCP_ERR_NULL);
    CHECK_EQ(stcp_mtu(n), STCP_ERR_NULL);
    CHECK_EQ(stcp_config_default(NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_config_validate(NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_listen_options_default(NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_addr_parse(NULL, NULL, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_addr_format(NULL, 16, (char *)buf, sizeof buf), STCP_ERR_NULL);
}

static void test_strings(void) {
    CHECK(strcmp(stcp_version(), "") != 0);
    for (int code = STCP_ERR_OTHER; code <= STCP_OK; code++) {
        const char *msg = stcp_strerror(code);
        CHECK(msg != NULL && strcmp(msg, "unknown error code") != 0);
        for (int other = STCP_ERR_OTHER; other < code; other++) {
            if (strcmp(msg, stcp_strerror(other)) == 0) {
                failed++;
                fprintf(stderr, "codes %d and %d share a message\n", code, other);
            }
        }
    }
    CHECK(strcmp(stcp_strerror(STCP_ERR_OTHER - 1), "unknown error code") == 0);
    CHECK(strcmp(stcp_strerror(1), "unknown error code") == 0);
    CHECK(strcmp(stcp_drop_reason_name(STCP_DROP_BAD_CHECKSUM), "bad_checksum") == 0);
    CHECK(strcmp(stcp_drop_reason_name(-1), "unknown") == 0);
    CHECK(strcmp(stcp_state_name(STCP_STATE_ESTABLISHED), "ESTABLISHED") == 0);
    CHECK(strcmp(stcp_state_name(99), "unknown") == 0);
    CHECK(strcmp(stcp_link_drop_reason_name(STCP_LINK_DROP_UNRESOLVED), "unresolved") == 0);
}

static void test_addresses(void) {
    struct sockaddr_storage ss;
    size_t len = 0;
    char text[64];
    CHECK_EQ(stcp_addr_parse("[2001:db8::1]:443", &ss, &len), STCP_OK);
    CHECK_EQ(len, sizeof(struct sockaddr_in6));
    CHECK_EQ(ss.ss_family, AF_INET6);
    CHECK_EQ(stcp_addr_format(SA(&ss), len, text, sizeof text), (ptrdiff_t)strlen("[2001:db8::1]:443"));
    CHECK(strcmp(text, "[2001:db8::1]:443") == 0);
    CHECK_EQ(stcp_addr_format(SA(&ss), len, text, 5), STCP_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(stcp_addr_format(SA(&ss), sizeof(struct sockaddr_in), text, sizeof text), STCP_ERR_BAD_ADDRESS);
    CHECK_EQ(stcp_addr_parse("not an address", &ss, &len), STCP_ERR_INVALID);
    CHECK_EQ(stcp_addr_parse("10.0.0.1:99999", &ss, &len), STCP_ERR_INVALID);
    CHECK_EQ(stcp_addr_parse("10.0.0.1", &ss, NULL), STCP_OK);

    stcp_stack *s = new_stack("10.0.0.1");
    uint64_t id = 0;
    struct sockaddr_in a = v4("10.0.0.1:80");
    struct sockaddr_storage unix_addr;
    memset(&unix_addr, 0, sizeof unix_addr);
    unix_addr.ss_family = AF_UNIX;
    CHECK_EQ(stcp_listen(s, SA(&a), sizeof a - 1, NULL, &id), STCP_ERR_BAD_ADDRESS);
    CHECK_EQ(stcp_listen(s, SA(&unix_addr), sizeof unix_addr, NULL, &id), STCP_ERR_BAD_ADDRESS);
    CHECK_EQ(stcp_listen(s, NULL, sizeof a, NULL, &id), STCP_ERR_NULL);
    CHECK_EQ(stcp_listen(s, SA(&a), sizeof a, NULL, NULL), STCP_ERR_NULL);
    struct sockaddr_in zero_port = v4("10.0.0.1:0");
    CHECK_EQ(stcp_listen(s, SA(&zero_port), sizeof zero_port, NULL, &id), STCP_ERR_PORT_ZERO);
    struct sockaddr_in other = v4("10.9.9.9:80");
    CHECK_EQ(stcp_listen(s, SA(&other), sizeof other, NULL, &id), STCP_ERR_ADDRESS_NOT_LOCAL);
    stcp_listen_options lo;
    CHECK_EQ(stcp_listen_options_default(&lo), STCP_OK);
    CHECK_EQ(lo.backlog, 128);
    lo.backlog = 0;
    CHECK_EQ(stcp_listen(s, SA(&a), sizeof a, &lo, &id), STCP_ERR_BAD_BACKLOG);
    CHECK_EQ(stcp_listen(s, SA(&a), sizeof a, NULL, &id), STCP_OK);
    CHECK_EQ(stcp_listen(s, SA(&a), sizeof a, NULL, &id), STCP_ERR_ADDRESS_IN_USE);

    struct sockaddr_in any = v4("0.0.0.0:80");
    CHECK_EQ(stcp_connect(s, 0, SA(&any), sizeof any, NULL, &id), STCP_ERR_BAD_REMOTE);
    struct sockaddr_storage v6;
    size_t v6_len = 0;
    CHECK_EQ(stcp_addr_parse("[2001:db8::2]:80", &v6, &v6_len), STCP_OK);
    CHECK_EQ(stcp_connect(s, 0, SA(&v6), v6_len, NULL, &id), STCP_ERR_NO_LOCAL_ADDRESS);
    struct sockaddr_in remote = v4("10.0.0.2:80");
    stcp_connect_options co;
    memset(&co, 0, sizeof co);
    CHECK_EQ(stcp_addr_parse("10.7.7.7:0", &co.local, NULL), STCP_OK);
    CHECK_EQ(stcp_connect(s, 0, SA(&remote), sizeof remote, &co, &id), STCP_ERR_ADDRESS_NOT_LOCAL);
    CHECK_EQ(stcp_addr_parse("10.0.0.1:4000", &co.local, NULL), STCP_OK);
    co.nodelay = true;
    CHECK_EQ(stcp_connect(s, 0, SA(&remote), sizeof remote, &co, &id), STCP_OK);
    CHECK_EQ(stcp_connect(s, 0, SA(&remote), sizeof remote, &co, &id), STCP_ERR_ADDRESS_IN_USE);
    CHECK_EQ(stcp_connect(s, 0, SA(&remote), sizeof remote, NULL, NULL), STCP_ERR_NULL);
    stcp_stack_free(s);
}

static void test_config(void) {
    stcp_config cfg;
    CHECK_EQ(stcp_config_default(&cfg), STCP_OK);
    CHECK_EQ(cfg.mtu, 1500);
    CHECK_EQ(cfg.congestion, STCP_CC_NEWRENO);
    CHECK_EQ(stcp_config_validate(&cfg), STCP_ERR_NO_ADDRESSES);
    CHECK(stcp_stack_new(&cfg) == NULL);
    CHECK_EQ(stcp_addr_parse("10.0.0.1", &cfg.addresses[0], NULL), STCP_OK);
    cfg.address_count = 1;
    CHECK_EQ(stcp_config_validate(&cfg), STCP_OK);

    stcp_config bad = cfg;
    bad.address_count = STCP_MAX_ADDRESSES + 1;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_INVALID);
    bad = cfg;
    bad.address_count = 2; /* the second slot is AF_UNSPEC */
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_BAD_ADDRESS);
    bad = cfg;
    bad.congestion = 42;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_INVALID);
    bad = cfg;
    bad.mtu = 100;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_BAD_MTU);
    CHECK(stcp_stack_new(&bad) == NULL);
    bad = cfg;
    bad.recv_buffer = 0;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_BAD_BUFFER_SIZE);
    bad = cfg;
    bad.max_connections = 0;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_BAD_LIMIT);
    bad = cfg;
    bad.ephemeral_port_min = 0;
    CHECK_EQ(stcp_config_validate(&bad), STCP_ERR_BAD_PORT_RANGE);
}

/* Handshake, then every way a connection id can be wrong. */
static void test_connections(void) {
    stcp_stack *client = new_stack("10.0.0.1");
    stcp_stack *server = new_stack("10.0.0.2");
    struct sockaddr_in sa = v4("10.0.0.2:80");
    uint64_t l = 0, c = 0, s = 0, now = 0;
    uint8_t buf[MTU];
    stcp_event ev;
    stcp_tcp_info info;

    CHECK_EQ(stcp_listen(server, SA(&sa), sizeof sa, NULL, &l), STCP_OK);
    CHECK_EQ(stcp_accept(server, l, &s), STCP_ERR_DONE);
    CHECK_EQ(stcp_accept(server, l + 1, &s), STCP_ERR_INVALID_LISTENER);
    CHECK_EQ(stcp_connect(client, now, SA(&sa), sizeof sa, NULL, &c), STCP_OK);

    /* Buffer too small: the SYN is not lost. */
    CHECK_EQ(stcp_poll_transmit(client, now, buf, MTU - 1), STCP_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(stcp_poll_transmit(client, now, NULL, MTU), STCP_ERR_NULL);
    ptrdiff_t n = stcp_poll_transmit(client, now, buf, sizeof buf);
    CHECK(n >= 40);
    CHECK_EQ(stcp_handle_packet(server, now, buf, (size_t)n), 0);
    pump(client, server, now);

    /* A NULL output takes nothing: the connection waits in the queue. */
    CHECK_EQ(stcp_accept(server, l, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_poll_event(server, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_poll_event(server, &ev), STCP_OK);
    CHECK_EQ(ev.kind, STCP_EVENT_INCOMING);
    CHECK_EQ(ev.listener, l);
    CHECK_EQ(stcp_accept(server, l, &s), STCP_OK);
    CHECK_EQ(stcp_accept(server, l, &s), STCP_ERR_DONE);
    CHECK_EQ(stcp_poll_event(client, &ev), STCP_OK);
    CHECK_EQ(ev.kind, STCP_EVENT_CONNECTED);
    CHECK_EQ(ev.conn, c);

    CHECK_EQ(stcp_conn_info(client, c, &info), STCP_OK);
    CHECK_EQ(info.state, STCP_STATE_ESTABLISHED);
    char text[64];
    CHECK(stcp_addr_format(SA(&info.remote), sizeof info.remote, text, sizeof text) > 0);
    CHECK(strcmp(text, "10.0.0.2:80") == 0);
    CHECK_EQ(stcp_conn_info(client, c, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_set_nodelay(client, c, true), STCP_OK);
    CHECK_EQ(stcp_set_keepalive(client, c, 5000000000ULL), STCP_OK);
    CHECK_EQ(stcp_conn_info(client, c, &info), STCP_OK);
    CHECK_EQ(info.keepalive_ns, 5000000000ULL);
    CHECK(!info.nagle);

    /* Made-up ids. */
    const uint64_t bogus[] = {0xdeadbeef00000042ULL, c ^ (1ULL << 40), s + 12345};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        uint64_t id = bogus[i];
        CHECK_EQ(stcp_send(client, id, buf, 1), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_recv(client, id, buf, sizeof buf), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_shutdown(client, id), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_close(client, id), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_abort(client, id), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_set_nodelay(client, id, false), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_set_keepalive(client, id, 0), STCP_ERR_INVALID_CONNECTION);
        CHECK_EQ(stcp_conn_info(client, id, &info), STCP_ERR_INVALID_CONNECTION);
    }

    /* Argument checks on a live connection. */
    CHECK_EQ(stcp_recv(client, c, buf, 0), STCP_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(stcp_recv(client, c, NULL, 10), STCP_ERR_NULL);
    CHECK_EQ(stcp_recv(client, c, buf, sizeof buf), STCP_ERR_WOULD_BLOCK);
    CHECK_EQ(stcp_send(client, c, NULL, 10), STCP_ERR_NULL);
    CHECK_EQ(stcp_send(client, c, NULL, 0), 0);
    CHECK_EQ(stcp_send(client, c, buf, (size_t)PTRDIFF_MAX + 1), STCP_ERR_INVALID);
    CHECK_EQ(stcp_handle_packet(client, now, NULL, 20), STCP_ERR_NULL);
    CHECK_EQ(stcp_handle_packet(client, now, buf, 3), STCP_DROP_BAD_IP_HEADER);

    /* Data, half-close, then use after free: close releases the id at once. */
    CHECK_EQ(stcp_send(client, c, (const uint8_t *)"hello", 5), 5);
    CHECK_EQ(stcp_shutdown(client, c), STCP_OK);
    CHECK_EQ(stcp_shutdown(client, c), STCP_ERR_ALREADY_SHUTDOWN);
    CHECK_EQ(stcp_send(client, c, buf, 1), STCP_ERR_CLOSED);
    pump(client, server, now);
    CHECK_EQ(stcp_recv(server, s, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(stcp_recv(server, s, buf, sizeof buf), 0); /* end of stream */
    CHECK_EQ(stcp_close(client, c), STCP_OK);
    CHECK_EQ(stcp_close(client, c), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_send(client, c, buf, 1), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_recv(client, c, buf, sizeof buf), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_abort(client, c), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_conn_info(client, c, &info), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_close(server, s), STCP_OK);
    CHECK_EQ(stcp_recv(server, s, buf, sizeof buf), STCP_ERR_INVALID_CONNECTION);
    now = run_timers(client, server, now, 100);
    CHECK_EQ(stcp_connection_count(client), 0);
    CHECK_EQ(stcp_connection_count(server), 0);

    /* A new connection does not revive the old ids (their slots may be reused). */
    uint64_t c2 = 0, s2 = 0;
    CHECK_EQ(stcp_connect(client, now, SA(&sa), sizeof sa, NULL, &c2), STCP_OK);
    pump(client, server, now);
    CHECK_EQ(stcp_accept(server, l, &s2), STCP_OK);
    CHECK(c2 != c);
    CHECK(s2 != s);
    CHECK_EQ(stcp_send(client, c, buf, 1), STCP_ERR_INVALID_CONNECTION);
    CHECK_EQ(stcp_send(server, s, buf, 1), STCP_ERR_INVALID_CONNECTION);

    /* Abort: a RST goes out, the id is stale, the peer sees a reset. */
    CHECK_EQ(stcp_abort(client, c2), STCP_OK);
    CHECK_EQ(stcp_abort(client, c2), STCP_ERR_INVALID_CONNECTION);
    pump(client, server, now);
    int reset_seen = 0;
    while (stcp_poll_event(server, &ev) == STCP_OK) {
        if (ev.kind == STCP_EVENT_CLOSED && ev.conn == s2) {
            reset_seen = ev.reason == STCP_CLOSE_RESET;
        }
    }
    CHECK(reset_seen);
    CHECK_EQ(stcp_recv(server, s2, buf, sizeof buf), STCP_ERR_RESET); /* sticky until close */
    CHECK_EQ(stcp_send(server, s2, buf, 1), STCP_ERR_RESET);
    CHECK_EQ(stcp_shutdown(server, s2), STCP_ERR_FAILED);
    CHECK_EQ(stcp_close(server, s2), STCP_OK);
    CHECK_EQ(stcp_recv(server, s2, buf, sizeof buf), STCP_ERR_INVALID_CONNECTION);

    /* Refused: nobody listens on port 81. */
    struct sockaddr_in closed_port = v4("10.0.0.2:81");
    uint64_t c3 = 0;
    CHECK_EQ(stcp_connect(client, now, SA(&closed_port), sizeof closed_port, NULL, &c3), STCP_OK);
    pump(client, server, now);
    CHECK_EQ(stcp_recv(client, c3, buf, sizeof buf), STCP_ERR_REFUSED);
    CHECK_EQ(stcp_close(client, c3), STCP_OK);

    /* Listeners: close, then the id is stale. */
    CHECK_EQ(stcp_close_listener(server, l), STCP_OK);
    CHECK_EQ(stcp_close_listener(server, l), STCP_ERR_INVALID_LISTENER);
    CHECK_EQ(stcp_accept(server, l, &s), STCP_ERR_INVALID_LISTENER);

    stcp_stack_counters st;
    CHECK_EQ(stcp_stats(server, &st), STCP_OK);
    CHECK_EQ(st.passive_opens, 2);
    CHECK(st.resets_in >= 1);
    CHECK_EQ(stcp_stats(client, &st), STCP_OK);
    CHECK_EQ(st.drops[STCP_DROP_BAD_IP_HEADER], 1);
    CHECK(st.dropped_total >= 1);

    stcp_stack_free(client);
    stcp_stack_free(server);
}

static void test_link(void) {
    stcp_link_config lc;
    uint8_t frame[MTU + 14];
    stcp_link_counters ls;
    CHECK_EQ(stcp_link_config_default(&lc), STCP_OK);
    CHECK_EQ(stcp_link_config_validate(&lc), STCP_ERR_INVALID); /* zero MAC */
    CHECK(stcp_link_new(&lc) == NULL);
    CHECK(stcp_link_new(NULL) == NULL);
    const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    memcpy(lc.hardware_addr, mac, 6);
    CHECK_EQ(stcp_link_config_validate(&lc), STCP_OK);
    CHECK_EQ(stcp_addr_parse("10.0.0.0", &lc.prefixes[0].addr, NULL), STCP_OK);
    lc.prefixes[0].prefix_len = 33;
    lc.prefix_count = 1;
    CHECK_EQ(stcp_link_config_validate(&lc), STCP_ERR_INVALID);
    lc.prefixes[0].prefix_len = 24;
    CHECK_EQ(stcp_addr_parse("[fe80::1]", &lc.gateway_v4, NULL), STCP_OK);
    CHECK_EQ(stcp_link_config_validate(&lc), STCP_ERR_BAD_ADDRESS);
    CHECK_EQ(stcp_addr_parse("10.0.0.254", &lc.gateway_v4, NULL), STCP_OK);
    CHECK_EQ(stcp_link_config_validate(&lc), STCP_OK);

    stcp_stack *s = new_stack("10.0.0.2");
    stcp_link *l = stcp_link_new(&lc);
    CHECK(l != NULL);
    CHECK_EQ(stcp_link_announce(NULL, s), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_announce(l, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_handle_frame(NULL, s, 0, frame, 60), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_handle_frame(l, s, 0, NULL, 60), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_poll_frame(l, NULL, 0, frame, sizeof frame), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_handle_timeout(l, NULL, 0), STCP_ERR_NULL);
    CHECK(stcp_link_poll_timeout(NULL, s) == UINT64_MAX);
    CHECK_EQ(stcp_link_stats(NULL, &ls), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_stats(l, NULL), STCP_ERR_NULL);
    CHECK_EQ(stcp_link_frame_buffer_len(l, s), MTU + 14);

    /* The announcement is a gratuitous ARP; a short buffer keeps it queued. */
    CHECK_EQ(stcp_link_announce(l, s), STCP_OK);
    CHECK_EQ(stcp_link_poll_frame(l, s, 0, frame, MTU), STCP_ERR_BUFFER_TOO_SMALL);
    ptrdiff_t n = stcp_link_poll_frame(l, s, 0, frame, sizeof frame);
    CHECK(n >= 42);
    CHECK(frame[12] == 0x08 && frame[13] == 0x06);
    CHECK_EQ(stcp_link_poll_frame(l, s, 0, frame, sizeof frame), STCP_ERR_DONE);

    /* Garbage and foreign frames are dropped with a reason. */
    memset(frame, 0, sizeof frame);
    CHECK_EQ(stcp_link_handle_frame(l, s, 0, frame, 5), STCP_LINK_DROP_BAD_FRAME);
    CHECK_EQ(stcp_link_handle_frame(l, s, 0, frame, 0), STCP_LINK_DROP_BAD_FRAME);
    const uint8_t other_mac[6] = {0x02, 9, 9, 9, 9, 9};
    memcpy(frame, other_mac, 6);
    frame[6] = 0x02;
    frame[12] = 0x08;
    CHECK_EQ(stcp_link_handle_frame(l, s, 0, frame, 60), STCP_LINK_DROP_NOT_FOR_US);

    /* A connection to an address nobody answers: parked, then unresolved after retries. */
    struct sockaddr_in far = v4("10.0.0.9:80");
    uint64_t c = 0;
    CHECK_EQ(stcp_connect(s, 0, SA(&far), sizeof far, NULL, &c), STCP_OK);
    n = stcp_link_poll_frame(l, s, 0, frame, sizeof frame);
    CHECK(n >= 42 && frame[12] == 0x08 && frame[13] == 0x06); /* an ARP request instead */
    uint64_t now = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t t = stcp_link_poll_timeout(l, s);
        if (t == UINT64_MAX) {
            break;
        }
        now = t;
        CHECK_EQ(stcp_link_handle_timeout(l, s, now), STCP_OK);
        while (stcp_link_poll_frame(l, s, now, frame, sizeof frame) > 0) {
        }
        CHECK_EQ(stcp_link_stats(l, &ls), STCP_OK);
        if (ls.resolve_failures > 0) {
            break;
        }
    }
    CHECK_EQ(stcp_link_stats(l, &ls), STCP_OK);
    CHECK(ls.resolve_failures >= 1);
    CHECK(ls.drops[STCP_LINK_DROP_UNRESOLVED] >= 1);
    CHECK_EQ(ls.drops[STCP_LINK_DROP_BAD_FRAME], 2);
    CHECK_EQ(ls.frames_in, 3);

    CHECK_EQ(stcp_abort(s, c), STCP_OK);
    stcp_link_free(l);
    stcp_link_free(NULL);
    stcp_stack_free(s);
}

int main(void) {
    test_null_stack();
    test_strings();
    test_addresses();
    test_config();
    test_connections();
    test_link();
    printf("sanstcp %s\n", stcp_version());
    printf("test_api: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
