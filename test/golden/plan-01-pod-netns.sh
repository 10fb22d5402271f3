#!/usr/bin/env bash
# klab plan for lab "pod-netns": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/01-pod-netns.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-pod-netns-fabric
netns add klab-pod-netns-node1
netns add klab-pod-netns-default-web
netns add klab-pod-netns-kube-system-klab-dns-pd5xrtmnvh-4jb2w
EOF

# --- stage 2: underlay switch
ip -n klab-pod-netns-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-pod-netns-node1
link set eth-node1 master br0
link set eth-node1 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-pod-netns-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-pod-netns-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add vethc1f33d50 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-pod-netns-default-web
link set vethc1f33d50 master cni0
link set vethc1f33d50 type bridge_slave hairpin on
link set vethc1f33d50 up
link add veth893a8e21 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-pod-netns-kube-system-klab-dns-pd5xrtmnvh-4jb2w
link set veth893a8e21 master cni0
link set veth893a8e21 type bridge_slave hairpin on
link set veth893a8e21 up
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-pod-netns-node1 iptables-restore <<'EOF'
*mangle
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-I FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-I INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-I FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-I OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-I FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-I INPUT -j KUBE-FIREWALL
-I OUTPUT -j KUBE-FIREWALL
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SEP-6E7XQMQ4RAYOWTTM - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-ZXMNUKOKXUTL2MK2 - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.3:53" -j KUBE-SEP-6E7XQMQ4RAYOWTTM
-A KUBE-SEP-6E7XQMQ4RAYOWTTM -m comment --comment kube-system/kube-dns:dns -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-6E7XQMQ4RAYOWTTM -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.3:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.0.3:53" -j KUBE-SEP-ZXMNUKOKXUTL2MK2
-A KUBE-SEP-ZXMNUKOKXUTL2MK2 -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-ZXMNUKOKXUTL2MK2 -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:53
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF

# --- stage 5: pod interfaces
ip -n klab-pod-netns-default-web -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-pod-netns-kube-system-klab-dns-pd5xrtmnvh-4jb2w -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-pod-netns-default-web' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-pod-netns-default-web/resolv.conf'
