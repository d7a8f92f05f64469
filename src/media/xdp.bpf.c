/* xdp: the XDP program of a `media = xdp` zone: frames for the owned address go to the queue's AF_XDP socket. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/*
 * Built with clang -target bpf and embedded in libsbc (src/media/xsk.c).
 * What the media engine must see goes to the AF_XDP socket of the queue
 * the frame came in on: every IPv4 packet to the owned address (UDP to any
 * port, ICMP, fragments: unknown ports and the rest go on to lwIP) and ARP
 * whose target protocol address is the owned address. Everything else is
 * the kernel's (XDP_PASS), as is a frame of a queue without a socket.
 */

/* The owned IPv4 address, network order, set by sbcd after loading (0: nothing matches). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} own_map SEC(".maps");

/* Queue index -> the AF_XDP socket bound to that queue. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* ARP for Ethernet and IPv4 (RFC 826), the fields up to the target protocol address. */
struct arp4 {
	__be16 htype, ptype;
	__u8 hlen, plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline int ours_ip(void *l3, void *end, __u32 own)
{
	struct iphdr *ip = l3;

	return (void *)(ip + 1) <= end && ip->version == 4 && ip->daddr == own;
}

static __always_inline int ours_arp(void *l3, void *end, __u32 own)
{
	struct arp4 *a = l3;
	__u32 tpa;

	if ((void *)(a + 1) > end || a->ptype != bpf_htons(ETH_P_IP) || a->plen != 4)
		return 0;
	__builtin_memcpy(&tpa, a->tpa, 4);
	return tpa == own;
}

SEC("xdp")
int sbc_media_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 k = 0, *own = bpf_map_lookup_elem(&own_map, &k);
	int ours = 0;

	if (!own || !*own || (void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		ours = ours_ip(eth + 1, end, *own);
	else if (eth->h_proto == bpf_htons(ETH_P_ARP))
		ours = ours_arp(eth + 1, end, *own);
	if (!ours)
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
