/* net: socket addresses, UDP and TCP/TLS transports on libevent, TLS contexts, netlink interfaces. */
#ifndef SBC_NET_H
#define SBC_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "util/util.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

/* Addresses: struct sockaddr_storage holding AF_INET or AF_INET6. */
enum { NET_ADDRSTRLEN = 64 };   /* "[v6]:port" with room */

int net_sa_from_str(struct sockaddr_storage *sa, const char *ip, uint16_t port);
int net_sa_from_endpoint(struct sockaddr_storage *sa, const char *s);   /* "IP[:PORT]", "[IPV6][:PORT]" */
int net_sa_from_pl(struct sockaddr_storage *sa, const struct pl *ip, uint16_t port);
uint16_t net_sa_port(const struct sockaddr_storage *sa);
void net_sa_set_port(struct sockaddr_storage *sa, uint16_t port);
socklen_t net_sa_len(const struct sockaddr_storage *sa);
bool net_sa_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool net_sa_eq_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool net_sa_is_any(const struct sockaddr_storage *sa);
uint32_t net_sa_hash_ip(const struct sockaddr_storage *sa);
uint32_t net_sa_hash(const struct sockaddr_storage *sa);
int net_sa_ip_str(const struct sockaddr_storage *sa, char *buf, size_t size);
const char *net_sa_str(const struct sockaddr_storage *sa, char *buf, size_t size);

/*
 * UDP: one socket bound to a zone address, drained with recvmmsg in
 * batches of NET_UDP_BATCH. The receive handler runs for each datagram in
 * the batch; data is valid only during the call. Datagrams longer than
 * NET_UDP_SLOT are truncated by the kernel: the handler sees truncated=true.
 */
enum { NET_UDP_BATCH = 32, NET_UDP_SLOT = 16384 };

struct net_udp;
typedef void (net_udp_recv_h)(const struct sockaddr_storage *src, char *data, size_t len,
			      bool truncated, void *arg);

struct net_udp_stats {
	uint64_t rx_packets, rx_bytes, rx_batches, tx_packets, tx_bytes, tx_errors;
};

int net_udp_alloc(struct net_udp **up, struct event_base *base,
		  const struct sockaddr_storage *local, net_udp_recv_h *rh, void *arg);
int net_udp_send(struct net_udp *u, const struct sockaddr_storage *dst, const void *data,
		 size_t len);
const struct net_udp_stats *net_udp_stats(const struct net_udp *u);
int net_udp_local(const struct net_udp *u, struct sockaddr_storage *sa);

/*
 * Streams (TCP, or TLS when a context is given): a listener and the
 * connections it accepts or opens, framed by a callback, looked up by id
 * (never by pointer across calls) and by remote address for reuse.
 */
struct net_stream;
struct net_conn;

/*
 * Framing: return 0 with *msglen set when data starts with a whole message,
 * ENODATA when more bytes are needed, any other errno to close the
 * connection. *skip bytes (keep-alive CRLFs) are dropped before the message.
 */
typedef int (net_frame_h)(const char *data, size_t len, size_t *skip, size_t *msglen,
			  void *arg);
/* One framed message; data valid only during the call. */
typedef void (net_conn_recv_h)(struct net_conn *c, const char *data, size_t len, void *arg);
/* Bytes dropped before a message: a CRLFCRLF ping is answered by the caller (RFC 5626). */
typedef void (net_conn_ping_h)(struct net_conn *c, size_t crlfs, void *arg);
/*
 * A connection the stream opened failed before it came up (refused,
 * unreachable, timed out, TLS handshake failed), so nothing queued on it
 * went out. It is gone already: peer is the address it was opened to, id
 * the id it had, err why (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT, EPROTO
 * for TLS, ...). Runs from the event loop, never from inside
 * net_stream_send; it must not free the stream.
 */
typedef void (net_conn_fail_h)(uint32_t id, const struct sockaddr_storage *peer, int err,
			       void *arg);

struct net_stream_cfg {
	unsigned max_conns;          /* in total */
	unsigned *shared_active;     /* when set: the count max_conns bounds, shared by streams */
	unsigned max_per_source;     /* per remote IP address */
	unsigned idle_s;             /* close after this long without input */
	size_t max_msg;              /* a message larger than this closes the connection */
};

/* A connection from peer is about to be accepted: false refuses it (closed with a reset). */
typedef bool (net_accept_h)(const struct sockaddr_storage *peer, void *arg);

struct net_stream_stats {
	uint64_t accepted, connected, refused_total, refused_source, refused_policy, closed_idle,
		closed_error, closed_peer, framing_errors, rx_msgs, tx_msgs, tx_errors,
		connect_failed;   /* opened by us, failed before it came up (also in closed_*) */
	unsigned active;
};

int net_stream_alloc(struct net_stream **sp, struct event_base *base,
		     const struct sockaddr_storage *local, SSL_CTX *tls,
		     const struct net_stream_cfg *cfg, net_frame_h *fh, net_conn_recv_h *rh,
		     net_conn_ping_h *ph, void *arg);
void net_stream_set_tls(struct net_stream *s, SSL_CTX *tls);
void net_stream_set_fail(struct net_stream *s, net_conn_fail_h *failh);
void net_stream_set_accept(struct net_stream *s, net_accept_h *ah, void *arg);
int net_stream_send(struct net_stream *s, uint32_t conn_id, const struct sockaddr_storage *dst,
		    const void *data, size_t len, uint32_t *used_id);
struct net_conn *net_stream_conn(struct net_stream *s, uint32_t id);
const struct net_stream_stats *net_stream_stats(const struct net_stream *s);
int net_stream_local(const struct net_stream *s, struct sockaddr_storage *sa);
uint32_t net_conn_id(const struct net_conn *c);
const struct sockaddr_storage *net_conn_peer(const struct net_conn *c);
int net_conn_send(struct net_conn *c, const void *data, size_t len);
void net_conn_close(struct net_conn *c);

/* TLS contexts (OpenSSL 3). */
int net_tls_server_ctx(SSL_CTX **ctxp, const char *cert, const char *key, char *err,
		       size_t errsize);
int net_tls_client_ctx(SSL_CTX **ctxp);
int net_tls_selfsigned(const char *cert, const char *key, const char *cn);
/* Gets one PEM text of a self-signed pair: the key (key true), then the certificate. */
typedef int (net_tls_pem_h)(bool key, const char *pem, size_t len, void *arg);
int net_tls_selfsigned_pem(const char *cn, const char *san, net_tls_pem_h *wh, void *arg);
void net_tls_ctx_free(SSL_CTX *ctx);

/* Interfaces through netlink (libnl-route-3). */
enum { NET_IFACE_MAX_ADDRS = 16 };

struct net_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool up;              /* administratively up */
	bool running;         /* carrier (IFF_RUNNING / IFF_LOWER_UP) */
	bool loopback;
	bool has_mac;         /* an Ethernet address (6 bytes) in mac */
	uint8_t mac[6];
	size_t naddrs;
	struct sockaddr_storage addr[NET_IFACE_MAX_ADDRS];
	uint8_t prefixlen[NET_IFACE_MAX_ADDRS];
};

int net_iface_get(const char *name, struct net_iface *ifc);
bool net_iface_has_addr(const struct net_iface *ifc, const struct sockaddr_storage *sa);

/* Link and address changes, as they happen. */
struct net_monitor;
typedef void (net_link_h)(int ifindex, const char *name, bool up, bool running, void *arg);
typedef void (net_addr_h)(int ifindex, const struct sockaddr_storage *addr,
			  unsigned prefixlen, bool added, void *arg);

int net_monitor_alloc(struct net_monitor **mp, struct event_base *base, net_link_h *lh,
		      net_addr_h *ah, void *arg);

/*
 * nftables (nft.c): the nft binary (NULL: none installed); `nft -f -`
 * started with *wfd its stdin (the caller writes the script and closes
 * it, then reaps *pid); a script run to the end and waited for (bin NULL:
 * found with net_nft_bin): 0, ENOENT without nft, EIO when nft refused it.
 */
const char *net_nft_bin(void);
int net_nft_spawn(const char *bin, int *wfd, pid_t *pid);
int net_nft_run(const char *bin, const char *script);

#endif
