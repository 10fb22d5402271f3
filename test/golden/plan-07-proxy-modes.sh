#!/usr/bin/env bash
# klab plan for lab "proxy-modes": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/07-proxy-modes.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-proxy-modes-fabric
netns add klab-proxy-modes-node1
netns add klab-proxy-modes-node2
netns add klab-proxy-modes-laptop
netns add klab-proxy-modes-default-client
netns add klab-proxy-modes-default-prober
netns add klab-proxy-modes-default-web-z445llfgwz-j9pq2
netns add klab-proxy-modes-default-web-z445llfgwz-sp8x7
netns add klab-proxy-modes-default-web-z445llfgwz-cvj56
netns add klab-proxy-modes-kube-system-klab-dns-pd5xrtmnvh-nkmxd
EOF

# --- stage 2: underlay switch
ip -n klab-proxy-modes-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-node2
link set eth-node2 master br0
link set eth-node2 up
link add eth-laptop mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-laptop
link set eth-laptop master br0
link set eth-laptop up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-proxy-modes-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
ip -n klab-proxy-modes-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add vethba6c4a77 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-default-client
link set vethba6c4a77 master cni0
link set vethba6c4a77 type bridge_slave hairpin on
link set vethba6c4a77 up
link add vethd0046044 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-default-web-z445llfgwz-j9pq2
link set vethd0046044 master cni0
link set vethd0046044 type bridge_slave hairpin on
link set vethd0046044 up
link add vetha6435a9e mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-default-web-z445llfgwz-cvj56
link set vetha6435a9e master cni0
link set vetha6435a9e type bridge_slave hairpin on
link set vetha6435a9e up
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip netns exec klab-proxy-modes-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
ip -n klab-proxy-modes-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add veth3286cad6 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-default-prober
link set veth3286cad6 master cni0
link set veth3286cad6 type bridge_slave hairpin on
link set veth3286cad6 up
link add veth80af2eb3 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-default-web-z445llfgwz-sp8x7
link set veth80af2eb3 master cni0
link set veth80af2eb3 type bridge_slave hairpin on
link set veth80af2eb3 up
link add veth1a129f08 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-proxy-modes-kube-system-klab-dns-pd5xrtmnvh-nkmxd
link set veth1a129f08 master cni0
link set veth1a129f08 type bridge_slave hairpin on
link set veth1a129f08 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
EOF
ip -n klab-proxy-modes-laptop -batch - <<'EOF'
link set lo up
addr add 192.168.56.101/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
EOF

# --- stage 4: kube-proxy rules (nftables)
ip netns exec klab-proxy-modes-node1 nft -f - <<'EOF'
# kube-proxy nftables mode (Kubernetes 1.33 layout), node node1: full ruleset, replaces the table atomically.
# Rendered by klab (src/plan/proxy/nftables.ts); apply with: nft -f FILE

add table ip kube-proxy
delete table ip kube-proxy

table ip kube-proxy {
	comment "rules for kube-proxy"

	set cluster-ips {
		type ipv4_addr
		comment "Active ClusterIPs"
		elements = {
			10.96.0.14,
			10.96.0.12,
			10.96.0.11,
			10.96.0.13,
			10.96.0.10
		}
	}

	set nodeport-ips {
		type ipv4_addr
		comment "IPs that accept NodePort traffic"
		elements = {
			192.168.56.11
		}
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "vmap to drop or reject packets to services with no endpoints"
		elements = {
			10.96.0.14 . tcp . 80 comment "default/nobody" : goto reject-chain,
			10.96.0.12 . tcp . 80 comment "default/sticky" : goto reject-chain,
			10.96.0.11 . tcp . 80 comment "default/web:http" : goto reject-chain,
			10.96.0.11 . udp . 81 comment "default/web:udp" : goto reject-chain,
			10.96.0.13 . tcp . 80 comment "default/web-np:http" : goto reject-chain
		}
	}

	map no-endpoint-nodeports {
		type inet_proto . inet_service : verdict
		comment "vmap to drop or reject packets to service nodeports with no endpoints"
		elements = {
			tcp . 30080 comment "default/web-np:http" : goto reject-chain
		}
	}

	map firewall-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "destinations that are subject to LoadBalancerSourceRanges"
	}

	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
		elements = {
			10.96.0.10 . udp . 53 : goto service-FY5PMXPG-kube-system/kube-dns/udp/dns,
			10.96.0.10 . tcp . 53 : goto service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp
		}
	}

	map service-nodeports {
		type inet_proto . inet_service : verdict
		comment "NodePort traffic"
	}

	chain filter-prerouting {
		type filter hook prerouting priority dstnat - 10; policy accept;
		ct state new jump firewall-check
	}

	chain filter-input {
		type filter hook input priority -110; policy accept;
		ct state new jump nodeport-endpoints-check
		ct state new jump service-endpoints-check
	}

	chain filter-forward {
		type filter hook forward priority -110; policy accept;
		ct state new jump service-endpoints-check
		ct state new jump cluster-ips-check
	}

	chain filter-output {
		type filter hook output priority -110; policy accept;
		ct state new jump service-endpoints-check
		ct state new jump firewall-check
	}

	chain filter-output-post-dnat {
		type filter hook output priority -90; policy accept;
		ct state new jump cluster-ips-check
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump masquerading
	}

	chain nodeport-endpoints-check {
		ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
	}

	chain service-endpoints-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}

	chain firewall-check {
		ip daddr . meta l4proto . th dport vmap @firewall-ips
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain masquerading {
		mark and 0x4000 == 0 return
		mark set mark xor 0x4000
		masquerade fully-random
	}

	chain cluster-ips-check {
		ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
	}

	chain mark-for-masquerade {
		mark set mark or 0x4000
	}

	chain reject-chain {
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject
	}

	# default/nobody: no chains (default/nobody tcp/80)

	# default/sticky: no chains (default/sticky tcp/80)

	# default/web: no chains (default/web:http tcp/80; default/web:udp udp/81)

	# default/web-np: no chains (default/web-np:http tcp/80)

	# kube-system/kube-dns (kube-system/kube-dns:dns udp/53; kube-system/kube-dns:dns-tcp tcp/53)

	chain service-FY5PMXPG-kube-system/kube-dns/udp/dns {
		ip daddr 10.96.0.10 udp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		goto endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53
	}

	chain endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 {
		ip saddr 10.244.1.4 jump mark-for-masquerade
		meta l4proto udp dnat to 10.244.1.4:53
	}

	chain service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp {
		ip daddr 10.96.0.10 tcp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		goto endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53
	}

	chain endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53 {
		ip saddr 10.244.1.4 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.244.1.4:53
	}
}
EOF
ip netns exec klab-proxy-modes-node2 nft -f - <<'EOF'
# kube-proxy nftables mode (Kubernetes 1.33 layout), node node2: full ruleset, replaces the table atomically.
# Rendered by klab (src/plan/proxy/nftables.ts); apply with: nft -f FILE

add table ip kube-proxy
delete table ip kube-proxy

table ip kube-proxy {
	comment "rules for kube-proxy"

	set cluster-ips {
		type ipv4_addr
		comment "Active ClusterIPs"
		elements = {
			10.96.0.14,
			10.96.0.12,
			10.96.0.11,
			10.96.0.13,
			10.96.0.10
		}
	}

	set nodeport-ips {
		type ipv4_addr
		comment "IPs that accept NodePort traffic"
		elements = {
			192.168.56.12
		}
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "vmap to drop or reject packets to services with no endpoints"
		elements = {
			10.96.0.14 . tcp . 80 comment "default/nobody" : goto reject-chain,
			10.96.0.12 . tcp . 80 comment "default/sticky" : goto reject-chain,
			10.96.0.11 . tcp . 80 comment "default/web:http" : goto reject-chain,
			10.96.0.11 . udp . 81 comment "default/web:udp" : goto reject-chain,
			10.96.0.13 . tcp . 80 comment "default/web-np:http" : goto reject-chain
		}
	}

	map no-endpoint-nodeports {
		type inet_proto . inet_service : verdict
		comment "vmap to drop or reject packets to service nodeports with no endpoints"
		elements = {
			tcp . 30080 comment "default/web-np:http" : goto reject-chain
		}
	}

	map firewall-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "destinations that are subject to LoadBalancerSourceRanges"
	}

	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
		elements = {
			10.96.0.10 . udp . 53 : goto service-FY5PMXPG-kube-system/kube-dns/udp/dns,
			10.96.0.10 . tcp . 53 : goto service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp
		}
	}

	map service-nodeports {
		type inet_proto . inet_service : verdict
		comment "NodePort traffic"
	}

	chain filter-prerouting {
		type filter hook prerouting priority dstnat - 10; policy accept;
		ct state new jump firewall-check
	}

	chain filter-input {
		type filter hook input priority -110; policy accept;
		ct state new jump nodeport-endpoints-check
		ct state new jump service-endpoints-check
	}

	chain filter-forward {
		type filter hook forward priority -110; policy accept;
		ct state new jump service-endpoints-check
		ct state new jump cluster-ips-check
	}

	chain filter-output {
		type filter hook output priority -110; policy accept;
		ct state new jump service-endpoints-check
		ct state new jump firewall-check
	}

	chain filter-output-post-dnat {
		type filter hook output priority -90; policy accept;
		ct state new jump cluster-ips-check
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump masquerading
	}

	chain nodeport-endpoints-check {
		ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
	}

	chain service-endpoints-check {
		ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}

	chain firewall-check {
		ip daddr . meta l4proto . th dport vmap @firewall-ips
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}

	chain masquerading {
		mark and 0x4000 == 0 return
		mark set mark xor 0x4000
		masquerade fully-random
	}

	chain cluster-ips-check {
		ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
	}

	chain mark-for-masquerade {
		mark set mark or 0x4000
	}

	chain reject-chain {
		comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
		reject
	}

	# default/nobody: no chains (default/nobody tcp/80)

	# default/sticky: no chains (default/sticky tcp/80)

	# default/web: no chains (default/web:http tcp/80; default/web:udp udp/81)

	# default/web-np: no chains (default/web-np:http tcp/80)

	# kube-system/kube-dns (kube-system/kube-dns:dns udp/53; kube-system/kube-dns:dns-tcp tcp/53)

	chain service-FY5PMXPG-kube-system/kube-dns/udp/dns {
		ip daddr 10.96.0.10 udp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		goto endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53
	}

	chain endpoint-3WHXD5F5-kube-system/kube-dns/udp/dns__10.244.1.4/53 {
		ip saddr 10.244.1.4 jump mark-for-masquerade
		meta l4proto udp dnat to 10.244.1.4:53
	}

	chain service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp {
		ip daddr 10.96.0.10 tcp dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
		goto endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53
	}

	chain endpoint-5RB2OWQ2-kube-system/kube-dns/tcp/dns-tcp__10.244.1.4/53 {
		ip saddr 10.244.1.4 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.244.1.4:53
	}
}
EOF

# --- stage 5: pod interfaces
ip -n klab-proxy-modes-default-client -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-proxy-modes-default-prober -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-proxy-modes-default-web-z445llfgwz-j9pq2 -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-proxy-modes-default-web-z445llfgwz-sp8x7 -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-proxy-modes-default-web-z445llfgwz-cvj56 -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-proxy-modes-kube-system-klab-dns-pd5xrtmnvh-nkmxd -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-proxy-modes-default-client' '/etc/netns/klab-proxy-modes-default-prober' '/etc/netns/klab-proxy-modes-default-web-z445llfgwz-j9pq2' '/etc/netns/klab-proxy-modes-default-web-z445llfgwz-sp8x7' '/etc/netns/klab-proxy-modes-default-web-z445llfgwz-cvj56' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-proxy-modes-default-client/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-proxy-modes-default-prober/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-proxy-modes-default-web-z445llfgwz-j9pq2/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-proxy-modes-default-web-z445llfgwz-sp8x7/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-proxy-modes-default-web-z445llfgwz-cvj56/resolv.conf'
