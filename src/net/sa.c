/* sa: socket addresses (IPv4 and IPv6) in struct sockaddr_storage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int net_sa_from_str(struct sockaddr_storage *sa, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)sa;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return 0;
	}
	return EINVAL;
}

/*
 * "IP", "IP:PORT", "[IPV6]" or "[IPV6]:PORT" (a bare IPv6 address has no
 * port); the port is decimal digits, 0-65535, and 0 when absent. EINVAL
 * for anything else.
 */
int net_sa_from_endpoint(struct sockaddr_storage *sa, const char *s)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *end, *port = NULL;
	unsigned long p = 0;

	if (*s == '[') {
		end = strchr(++s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return EINVAL;
		port = end[1] ? end + 2 : NULL;
	} else {
		end = strchr(s, ':');
		if (end && strchr(end + 1, ':'))   /* a bare IPv6 address */
			end = NULL;
		port = end ? end + 1 : NULL;
		end = end ? end : s + strlen(s);
	}
	if ((size_t)(end - s) >= sizeof(ip))
		return EINVAL;
	memcpy(ip, s, (size_t)(end - s));
	ip[end - s] = '\0';
	if (port) {
		if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
			return EINVAL;
		p = strtoul(port, NULL, 10);
		if (p > 65535)
			return EINVAL;
	}
	return net_sa_from_str(sa, ip, (uint16_t)p);
}

int net_sa_from_pl(struct sockaddr_storage *sa, const struct pl *ip, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (pl_strcpy(ip, buf, sizeof(buf)))
		return EINVAL;
	return net_sa_from_str(sa, buf, port);
}

uint16_t net_sa_port(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

void net_sa_set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)sa)->sin_port = htons(port);
	else if (sa->ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons(port);
}

socklen_t net_sa_len(const struct sockaddr_storage *sa)
{
	return sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

bool net_sa_eq_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, 16) == 0;
	return false;
}

bool net_sa_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return net_sa_eq_ip(a, b) && net_sa_port(a) == net_sa_port(b);
}

bool net_sa_is_any(const struct sockaddr_storage *sa)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (sa->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == INADDR_ANY;
	if (sa->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, &any6,
			      16) == 0;
	return true;
}

static size_t ip_bytes(const struct sockaddr_storage *sa, const void **p)
{
	if (sa->ss_family == AF_INET) {
		*p = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return 4;
	}
	*p = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return 16;
}

/* Keyed hashes: remote addresses are chosen by whoever sends to us. */
uint32_t net_sa_hash_ip(const struct sockaddr_storage *sa)
{
	const void *p;
	size_t n = ip_bytes(sa, &p);

	return hash_keyed(p, n);
}

uint32_t net_sa_hash(const struct sockaddr_storage *sa)
{
	uint8_t key[18];
	const void *p;
	size_t n = ip_bytes(sa, &p);
	uint16_t port = net_sa_port(sa);

	memcpy(key, p, n);
	key[n] = (uint8_t)(port >> 8);
	key[n + 1] = (uint8_t)port;
	return hash_keyed(key, n + 2);
}

int net_sa_ip_str(const struct sockaddr_storage *sa, char *buf, size_t size)
{
	const void *p;

	if (sa->ss_family != AF_INET && sa->ss_family != AF_INET6)
		return EAFNOSUPPORT;
	ip_bytes(sa, &p);
	return inet_ntop(sa->ss_family, p, buf, (socklen_t)size) ? 0 : ENOSPC;
}

/* "1.2.3.4:5060" or "[2001:db8::1]:5060", for logs. */
const char *net_sa_str(const struct sockaddr_storage *sa, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (net_sa_ip_str(sa, ip, sizeof(ip))) {
		snprintf(buf, size, "?");
		return buf;
	}
	if (sa->ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", ip, net_sa_port(sa));
	else
		snprintf(buf, size, "%s:%u", ip, net_sa_port(sa));
	return buf;
}
