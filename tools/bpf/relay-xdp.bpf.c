/* relay-xdp's XDP program: UDP to the owned address and port range goes to the AF_XDP socket, the rest to the kernel. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set by relay-xdp after loading (all zero until then: nothing matches). */
struct relay_xdp_cfg {
	__u32 af;		/* 4 or 6 */
	__u32 addr4;		/* network order */
	__u32 addr6[4];		/* network order */
	__u16 port_min, port_max;	/* host order */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct relay_xdp_cfg);
} cfg_map SEC(".maps");

/* Queue index -> the AF_XDP socket bound to that queue. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* Frames redirected [0] and passed [1], per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline int verdict(struct xdp_md *ctx, int to_socket)
{
	__u32 k = to_socket ? 0 : 1;
	__u64 *n = bpf_map_lookup_elem(&counts, &k);

	if (n)
		*n += 1;
	if (!to_socket)
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

static __always_inline int port_ours(const struct relay_xdp_cfg *c, const struct udphdr *udp)
{
	__u16 p = bpf_ntohs(udp->dest);

	return p >= c->port_min && p <= c->port_max;
}

static __always_inline int is_ours4(const struct relay_xdp_cfg *c, void *l3, void *end)
{
	struct iphdr *ip = l3;
	struct udphdr *udp;

	if ((void *)(ip + 1) > end || c->af != 4 || ip->version != 4 || ip->daddr != c->addr4 ||
	    ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)) || ip->ihl < 5)
		return 0;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return 0;
	return port_ours(c, udp);
}

static __always_inline int is_ours6(const struct relay_xdp_cfg *c, void *l3, void *end)
{
	struct ipv6hdr *ip = l3;
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > end || c->af != 6 || ip->nexthdr != IPPROTO_UDP)
		return 0;
	for (int i = 0; i < 4; i++)	/* no memcmp in BPF */
		if (ip->daddr.in6_u.u6_addr32[i] != c->addr6[i])
			return 0;
	return port_ours(c, udp);
}

SEC("xdp")
int relay_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 k = 0;
	struct relay_xdp_cfg *c = bpf_map_lookup_elem(&cfg_map, &k);

	if (!c || (void *)(eth + 1) > end)
		return verdict(ctx, 0);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return verdict(ctx, is_ours4(c, eth + 1, end));
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return verdict(ctx, is_ours6(c, eth + 1, end));
	return verdict(ctx, 0);		/* ARP, VLAN tags, the rest: the kernel's */
}

char LICENSE[] SEC("license") = "GPL";
