/* xsk: the AF_XDP implementation of struct ring (ring.h): an XDP program, one AF_XDP socket, its UMEM. */
#ifndef SBC_MEDIA_XSK_H
#define SBC_MEDIA_XSK_H

#include <stddef.h>
#include <stdint.h>

#include "media/ring.h"

struct xsk_port;

int xsk_port_open(struct xsk_port **xp, const char *ifname, const struct ring_opts *o,
		  uint8_t mac[6], char *err, size_t errsz);
struct xsk_port *xsk_port_close(struct xsk_port *x);
int xsk_port_fd(const struct xsk_port *x);
int xsk_port_rx(struct xsk_port *x, ring_frame_h *h, void *arg, int max);
uint8_t *xsk_port_tx_alloc(struct xsk_port *x, size_t len);
int xsk_port_tx_flush(struct xsk_port *x);
void xsk_port_stats(struct xsk_port *x, struct ring_stats *st);
const char *xsk_port_mode(const struct xsk_port *x);

/* ring.c: a message into err (when given), returns code; for both implementations. */
int ring_seterr(char *err, size_t errsz, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
