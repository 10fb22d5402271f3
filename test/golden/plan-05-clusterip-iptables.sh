#!/usr/bin/env bash
# klab plan for lab "clusterip": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/05-clusterip-iptables.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-clusterip-fabric
netns add klab-clusterip-node1
netns add klab-clusterip-node2
netns add klab-clusterip-default-unready
netns add klab-clusterip-default-solo
netns add klab-clusterip-default-prober
netns add klab-clusterip-default-client
netns add klab-clusterip-default-web-z445llfgwz-gmphf
netns add klab-clusterip-default-web-z445llfgwz-97w9s
netns add klab-clusterip-default-web-z445llfgwz-gsmfc
netns add klab-clusterip-kube-system-klab-dns-pd5xrtmnvh-dktsj
EOF

# --- stage 2: underlay switch
ip -n klab-clusterip-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-node2
link set eth-node2 master br0
link set eth-node2 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-clusterip-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-clusterip-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add veth056c94a7 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-unready
link set veth056c94a7 master cni0
link set veth056c94a7 type bridge_slave hairpin on
link set veth056c94a7 up
link add veth9b7ddda6 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-prober
link set veth9b7ddda6 master cni0
link set veth9b7ddda6 type bridge_slave hairpin on
link set veth9b7ddda6 up
link add veth9168398d mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-web-z445llfgwz-gmphf
link set veth9168398d master cni0
link set veth9168398d type bridge_slave hairpin on
link set veth9168398d up
link add veth390697b7 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-web-z445llfgwz-gsmfc
link set veth390697b7 master cni0
link set veth390697b7 type bridge_slave hairpin on
link set veth390697b7 up
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip netns exec klab-clusterip-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-clusterip-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add veth728fb30a mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-solo
link set veth728fb30a master cni0
link set veth728fb30a type bridge_slave hairpin on
link set veth728fb30a up
link add veth4fb087cd mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-client
link set veth4fb087cd master cni0
link set veth4fb087cd type bridge_slave hairpin on
link set veth4fb087cd up
link add veth13fe3061 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-default-web-z445llfgwz-97w9s
link set veth13fe3061 master cni0
link set veth13fe3061 type bridge_slave hairpin on
link set veth13fe3061 up
link add vethd11a6b94 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-clusterip-kube-system-klab-dns-pd5xrtmnvh-dktsj
link set vethd11a6b94 master cni0
link set vethd11a6b94 type bridge_slave hairpin on
link set vethd11a6b94 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-clusterip-node1 iptables-restore <<'EOF'
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
-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/web:udp has no endpoints" -m udp -p udp -d 10.96.0.11 --dport 81 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/sticky has no endpoints" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/nobody has no endpoints" -m tcp -p tcp -d 10.96.0.14 --dport 80 -j REJECT
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
:KUBE-SEP-CEYPGFB7VCORONY3 - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-L5UB4QESNOI3ACO5 - [0:0]
:KUBE-SVC-XVJHHMIFZ6BOUBWS - [0:0]
:KUBE-SEP-A4HKNSM7BTWND4PF - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.5:53" -j KUBE-SEP-CEYPGFB7VCORONY3
-A KUBE-SEP-CEYPGFB7VCORONY3 -m comment --comment kube-system/kube-dns:dns -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-CEYPGFB7VCORONY3 -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.5:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.5:53" -j KUBE-SEP-L5UB4QESNOI3ACO5
-A KUBE-SEP-L5UB4QESNOI3ACO5 -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-L5UB4QESNOI3ACO5 -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:53
-A KUBE-SERVICES -m comment --comment "default/solo cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 -j KUBE-SVC-XVJHHMIFZ6BOUBWS
-A KUBE-SVC-XVJHHMIFZ6BOUBWS -m comment --comment "default/solo cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XVJHHMIFZ6BOUBWS -m comment --comment "default/solo -> 10.244.1.2:8080" -j KUBE-SEP-A4HKNSM7BTWND4PF
-A KUBE-SEP-A4HKNSM7BTWND4PF -m comment --comment default/solo -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-A4HKNSM7BTWND4PF -m comment --comment default/solo -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-clusterip-node2 iptables-restore <<'EOF'
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
-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/web:udp has no endpoints" -m udp -p udp -d 10.96.0.11 --dport 81 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/sticky has no endpoints" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j REJECT
-A KUBE-SERVICES -m comment --comment "default/nobody has no endpoints" -m tcp -p tcp -d 10.96.0.14 --dport 80 -j REJECT
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
:KUBE-SEP-CEYPGFB7VCORONY3 - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-L5UB4QESNOI3ACO5 - [0:0]
:KUBE-SVC-XVJHHMIFZ6BOUBWS - [0:0]
:KUBE-SEP-A4HKNSM7BTWND4PF - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.5:53" -j KUBE-SEP-CEYPGFB7VCORONY3
-A KUBE-SEP-CEYPGFB7VCORONY3 -m comment --comment kube-system/kube-dns:dns -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-CEYPGFB7VCORONY3 -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.5:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.5:53" -j KUBE-SEP-L5UB4QESNOI3ACO5
-A KUBE-SEP-L5UB4QESNOI3ACO5 -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-L5UB4QESNOI3ACO5 -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:53
-A KUBE-SERVICES -m comment --comment "default/solo cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 -j KUBE-SVC-XVJHHMIFZ6BOUBWS
-A KUBE-SVC-XVJHHMIFZ6BOUBWS -m comment --comment "default/solo cluster IP" -m tcp -p tcp -d 10.96.0.13 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XVJHHMIFZ6BOUBWS -m comment --comment "default/solo -> 10.244.1.2:8080" -j KUBE-SEP-A4HKNSM7BTWND4PF
-A KUBE-SEP-A4HKNSM7BTWND4PF -m comment --comment default/solo -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-A4HKNSM7BTWND4PF -m comment --comment default/solo -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF

# --- stage 5: pod interfaces
ip -n klab-clusterip-default-unready -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-clusterip-default-solo -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-clusterip-default-prober -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-clusterip-default-client -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-clusterip-default-web-z445llfgwz-gmphf -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-clusterip-default-web-z445llfgwz-97w9s -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-clusterip-default-web-z445llfgwz-gsmfc -batch - <<'EOF'
link set lo up
addr add 10.244.0.5/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-clusterip-kube-system-klab-dns-pd5xrtmnvh-dktsj -batch - <<'EOF'
link set lo up
addr add 10.244.1.5/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-clusterip-default-unready' '/etc/netns/klab-clusterip-default-solo' '/etc/netns/klab-clusterip-default-prober' '/etc/netns/klab-clusterip-default-client' '/etc/netns/klab-clusterip-default-web-z445llfgwz-gmphf' '/etc/netns/klab-clusterip-default-web-z445llfgwz-97w9s' '/etc/netns/klab-clusterip-default-web-z445llfgwz-gsmfc' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-unready/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-solo/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-prober/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-client/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-web-z445llfgwz-gmphf/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-web-z445llfgwz-97w9s/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-clusterip-default-web-z445llfgwz-gsmfc/resolv.conf'
