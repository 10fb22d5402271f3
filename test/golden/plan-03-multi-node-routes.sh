#!/usr/bin/env bash
# klab plan for lab "multi-node-routes": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/03-multi-node-routes.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-multi-node-routes-fabric
netns add klab-multi-node-routes-node1
netns add klab-multi-node-routes-node2
netns add klab-multi-node-routes-node3
netns add klab-multi-node-routes-client1
netns add klab-multi-node-routes-default-probe
netns add klab-multi-node-routes-default-far
netns add klab-multi-node-routes-default-web-wt6dtvvx97-5cfjl
netns add klab-multi-node-routes-default-web-wt6dtvvx97-vjgzh
netns add klab-multi-node-routes-default-web-wt6dtvvx97-gndjg
netns add klab-multi-node-routes-default-web-wt6dtvvx97-klplm
netns add klab-multi-node-routes-default-web-wt6dtvvx97-8ccnr
netns add klab-multi-node-routes-default-web-wt6dtvvx97-nq55q
netns add klab-multi-node-routes-kube-system-klab-dns-pd5xrtmnvh-mcm8h
EOF

# --- stage 2: underlay switch
ip -n klab-multi-node-routes-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-node2
link set eth-node2 master br0
link set eth-node2 up
link add eth-node3 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-node3
link set eth-node3 master br0
link set eth-node3 up
link add eth-client1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-client1
link set eth-client1 master br0
link set eth-client1 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-multi-node-routes-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-multi-node-routes-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add veth7971b15a mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-probe
link set veth7971b15a master cni0
link set veth7971b15a type bridge_slave hairpin on
link set veth7971b15a up
link add vethf74e3568 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-vjgzh
link set vethf74e3568 master cni0
link set vethf74e3568 type bridge_slave hairpin on
link set vethf74e3568 up
link add veth2a1fd3e2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-8ccnr
link set veth2a1fd3e2 master cni0
link set veth2a1fd3e2 type bridge_slave hairpin on
link set veth2a1fd3e2 up
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
route add 10.244.2.0/24 via 192.168.56.13 dev eth0
EOF
ip netns exec klab-multi-node-routes-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-multi-node-routes-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add vethd4d7ace9 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-5cfjl
link set vethd4d7ace9 master cni0
link set vethd4d7ace9 type bridge_slave hairpin on
link set vethd4d7ace9 up
link add vetheabb94bf mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-gndjg
link set vetheabb94bf master cni0
link set vetheabb94bf type bridge_slave hairpin on
link set vetheabb94bf up
link add veth88356bb0 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-nq55q
link set veth88356bb0 master cni0
link set veth88356bb0 type bridge_slave hairpin on
link set veth88356bb0 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
route add 10.244.2.0/24 via 192.168.56.13 dev eth0
EOF
ip netns exec klab-multi-node-routes-node3 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-multi-node-routes-node3 -batch - <<'EOF'
link set lo up
addr add 192.168.56.13/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.2.1/24 dev cni0
link set cni0 up
link add veth7f1875e5 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-far
link set veth7f1875e5 master cni0
link set veth7f1875e5 type bridge_slave hairpin on
link set veth7f1875e5 up
link add veth7b7fd671 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-wt6dtvvx97-klplm
link set veth7b7fd671 master cni0
link set veth7b7fd671 type bridge_slave hairpin on
link set veth7b7fd671 up
link add vethf7385ec7 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-kube-system-klab-dns-pd5xrtmnvh-mcm8h
link set vethf7385ec7 master cni0
link set vethf7385ec7 type bridge_slave hairpin on
link set vethf7385ec7 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip -n klab-multi-node-routes-client1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.101/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-multi-node-routes-node1 iptables-restore <<'EOF'
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
ip netns exec klab-multi-node-routes-node2 iptables-restore <<'EOF'
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
ip netns exec klab-multi-node-routes-node3 iptables-restore <<'EOF'
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

# --- stage 5: pod interfaces
ip -n klab-multi-node-routes-default-probe -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-far -batch - <<'EOF'
link set lo up
addr add 10.244.2.2/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-5cfjl -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-vjgzh -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-gndjg -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-klplm -batch - <<'EOF'
link set lo up
addr add 10.244.2.3/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-8ccnr -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-wt6dtvvx97-nq55q -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-multi-node-routes-kube-system-klab-dns-pd5xrtmnvh-mcm8h -batch - <<'EOF'
link set lo up
addr add 10.244.2.4/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-multi-node-routes-default-probe' '/etc/netns/klab-multi-node-routes-default-far' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-5cfjl' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-vjgzh' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-gndjg' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-klplm' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-8ccnr' '/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-nq55q' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-probe/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-far/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-5cfjl/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-vjgzh/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-gndjg/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-klplm/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-8ccnr/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-multi-node-routes-default-web-wt6dtvvx97-nq55q/resolv.conf'
