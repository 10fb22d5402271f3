#!/usr/bin/env bash
# klab plan for lab "vxlan-overlay": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/04-vxlan-overlay.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-vxlan-overlay-fabric
netns add klab-vxlan-overlay-node1
netns add klab-vxlan-overlay-node2
netns add klab-vxlan-overlay-node3
netns add klab-vxlan-overlay-default-probe
netns add klab-vxlan-overlay-default-far
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-f586c
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-4j9tc
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-wwn5m
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-pds2q
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-dnh67
netns add klab-vxlan-overlay-default-web-wt6dtvvx97-ksnpd
netns add klab-vxlan-overlay-kube-system-klab-dns-pd5xrtmnvh-42v5b
EOF

# --- stage 2: underlay switch
ip -n klab-vxlan-overlay-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-vxlan-overlay-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-vxlan-overlay-node2
link set eth-node2 master br0
link set eth-node2 up
link add eth-node3 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-vxlan-overlay-node3
link set eth-node3 master br0
link set eth-node3 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-vxlan-overlay-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-vxlan-overlay-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1450 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add vethf9dfc7e0 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-probe
link set vethf9dfc7e0 master cni0
link set vethf9dfc7e0 type bridge_slave hairpin on
link set vethf9dfc7e0 up
link add veth0ea46ab2 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-4j9tc
link set veth0ea46ab2 master cni0
link set veth0ea46ab2 type bridge_slave hairpin on
link set veth0ea46ab2 up
link add veth6a5cc73c mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-dnh67
link set veth6a5cc73c master cni0
link set veth6a5cc73c type bridge_slave hairpin on
link set veth6a5cc73c up
link add flannel.1 address 0e:c3:f5:01:b1:5f mtu 1450 type vxlan id 1 local 192.168.56.11 dev eth0 dstport 8472 nolearning
addr add 10.244.0.0/32 dev flannel.1
link set flannel.1 up
neigh add 10.244.1.0 lladdr 0e:2b:48:ce:25:a5 dev flannel.1 nud permanent
route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
neigh add 10.244.2.0 lladdr 0e:ea:73:c3:5d:69 dev flannel.1 nud permanent
route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
EOF
ip netns exec klab-vxlan-overlay-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-vxlan-overlay-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1450 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add vethddb0b537 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-f586c
link set vethddb0b537 master cni0
link set vethddb0b537 type bridge_slave hairpin on
link set vethddb0b537 up
link add vethe6c9f7a8 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-wwn5m
link set vethe6c9f7a8 master cni0
link set vethe6c9f7a8 type bridge_slave hairpin on
link set vethe6c9f7a8 up
link add vethe6cf1bc5 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-ksnpd
link set vethe6cf1bc5 master cni0
link set vethe6cf1bc5 type bridge_slave hairpin on
link set vethe6cf1bc5 up
link add flannel.1 address 0e:2b:48:ce:25:a5 mtu 1450 type vxlan id 1 local 192.168.56.12 dev eth0 dstport 8472 nolearning
addr add 10.244.1.0/32 dev flannel.1
link set flannel.1 up
neigh add 10.244.0.0 lladdr 0e:c3:f5:01:b1:5f dev flannel.1 nud permanent
route add 10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink
neigh add 10.244.2.0 lladdr 0e:ea:73:c3:5d:69 dev flannel.1 nud permanent
route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
EOF
ip netns exec klab-vxlan-overlay-node3 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-vxlan-overlay-node3 -batch - <<'EOF'
link set lo up
addr add 192.168.56.13/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1450 type bridge
addr add 10.244.2.1/24 dev cni0
link set cni0 up
link add vethcc780cec mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-far
link set vethcc780cec master cni0
link set vethcc780cec type bridge_slave hairpin on
link set vethcc780cec up
link add veth82bef5c0 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-wt6dtvvx97-pds2q
link set veth82bef5c0 master cni0
link set veth82bef5c0 type bridge_slave hairpin on
link set veth82bef5c0 up
link add vethaa6803b0 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-kube-system-klab-dns-pd5xrtmnvh-42v5b
link set vethaa6803b0 master cni0
link set vethaa6803b0 type bridge_slave hairpin on
link set vethaa6803b0 up
link add flannel.1 address 0e:ea:73:c3:5d:69 mtu 1450 type vxlan id 1 local 192.168.56.13 dev eth0 dstport 8472 nolearning
addr add 10.244.2.0/32 dev flannel.1
link set flannel.1 up
neigh add 10.244.0.0 lladdr 0e:c3:f5:01:b1:5f dev flannel.1 nud permanent
route add 10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink
neigh add 10.244.1.0 lladdr 0e:2b:48:ce:25:a5 dev flannel.1 nud permanent
route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-vxlan-overlay-node1 iptables-restore <<'EOF'
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
:KUBE-SEP-RJHMR3QLYGJVBWVL - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-BGFZBX5GRCLSKMIC - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.2.4:53" -j KUBE-SEP-RJHMR3QLYGJVBWVL
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.2.4:53" -j KUBE-SEP-BGFZBX5GRCLSKMIC
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-vxlan-overlay-node2 iptables-restore <<'EOF'
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
:KUBE-SEP-RJHMR3QLYGJVBWVL - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-BGFZBX5GRCLSKMIC - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.2.4:53" -j KUBE-SEP-RJHMR3QLYGJVBWVL
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.2.4:53" -j KUBE-SEP-BGFZBX5GRCLSKMIC
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-vxlan-overlay-node3 iptables-restore <<'EOF'
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
:KUBE-SEP-RJHMR3QLYGJVBWVL - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-BGFZBX5GRCLSKMIC - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.2.4:53" -j KUBE-SEP-RJHMR3QLYGJVBWVL
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-RJHMR3QLYGJVBWVL -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.2.4:53" -j KUBE-SEP-BGFZBX5GRCLSKMIC
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.2.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-BGFZBX5GRCLSKMIC -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.2.4:53
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF

# --- stage 5: pod interfaces and VXLAN forwarding entries
bridge -n klab-vxlan-overlay-node1 -batch - <<'EOF'
fdb append 0e:2b:48:ce:25:a5 dev flannel.1 dst 192.168.56.12 self permanent
fdb append 0e:ea:73:c3:5d:69 dev flannel.1 dst 192.168.56.13 self permanent
EOF
bridge -n klab-vxlan-overlay-node2 -batch - <<'EOF'
fdb append 0e:c3:f5:01:b1:5f dev flannel.1 dst 192.168.56.11 self permanent
fdb append 0e:ea:73:c3:5d:69 dev flannel.1 dst 192.168.56.13 self permanent
EOF
bridge -n klab-vxlan-overlay-node3 -batch - <<'EOF'
fdb append 0e:c3:f5:01:b1:5f dev flannel.1 dst 192.168.56.11 self permanent
fdb append 0e:2b:48:ce:25:a5 dev flannel.1 dst 192.168.56.12 self permanent
EOF
ip -n klab-vxlan-overlay-default-probe -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-far -batch - <<'EOF'
link set lo up
addr add 10.244.2.2/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-f586c -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-4j9tc -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-wwn5m -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-pds2q -batch - <<'EOF'
link set lo up
addr add 10.244.2.3/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-dnh67 -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-wt6dtvvx97-ksnpd -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-vxlan-overlay-kube-system-klab-dns-pd5xrtmnvh-42v5b -batch - <<'EOF'
link set lo up
addr add 10.244.2.4/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-vxlan-overlay-default-probe' '/etc/netns/klab-vxlan-overlay-default-far' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-f586c' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-4j9tc' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-wwn5m' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-pds2q' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-dnh67' '/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-ksnpd' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-probe/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-far/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-f586c/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-4j9tc/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-wwn5m/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-pds2q/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-dnh67/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-vxlan-overlay-default-web-wt6dtvvx97-ksnpd/resolv.conf'
