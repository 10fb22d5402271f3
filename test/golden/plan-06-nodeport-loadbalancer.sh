#!/usr/bin/env bash
# klab plan for lab "nodeport-lb": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/06-nodeport-loadbalancer.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-nodeport-lb-fabric
netns add klab-nodeport-lb-node1
netns add klab-nodeport-lb-node2
netns add klab-nodeport-lb-node3
netns add klab-nodeport-lb-laptop
netns add klab-nodeport-lb-default-local-only
netns add klab-nodeport-lb-default-web-c27fdhrgrt-lntbw
netns add klab-nodeport-lb-default-web-c27fdhrgrt-f7ncc
netns add klab-nodeport-lb-default-web-c27fdhrgrt-5drvr
netns add klab-nodeport-lb-kube-system-klab-dns-pd5xrtmnvh-njp4z
EOF

# --- stage 2: underlay switch
ip -n klab-nodeport-lb-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-node2
link set eth-node2 master br0
link set eth-node2 up
link add eth-node3 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-node3
link set eth-node3 master br0
link set eth-node3 up
link add eth-laptop mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-laptop
link set eth-laptop master br0
link set eth-laptop up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-nodeport-lb-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-nodeport-lb-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add veth9c18462d mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-default-web-c27fdhrgrt-lntbw
link set veth9c18462d master cni0
link set veth9c18462d type bridge_slave hairpin on
link set veth9c18462d up
link add veth00bd5722 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-default-web-c27fdhrgrt-5drvr
link set veth00bd5722 master cni0
link set veth00bd5722 type bridge_slave hairpin on
link set veth00bd5722 up
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
route add 10.244.2.0/24 via 192.168.56.13 dev eth0
EOF
ip netns exec klab-nodeport-lb-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-nodeport-lb-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add veth39b9c4a9 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-default-local-only
link set veth39b9c4a9 master cni0
link set veth39b9c4a9 type bridge_slave hairpin on
link set veth39b9c4a9 up
link add veth3311d359 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-kube-system-klab-dns-pd5xrtmnvh-njp4z
link set veth3311d359 master cni0
link set veth3311d359 type bridge_slave hairpin on
link set veth3311d359 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
route add 10.244.2.0/24 via 192.168.56.13 dev eth0
EOF
ip netns exec klab-nodeport-lb-node3 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-nodeport-lb-node3 -batch - <<'EOF'
link set lo up
addr add 192.168.56.13/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.2.1/24 dev cni0
link set cni0 up
link add vethbd3b14a4 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-nodeport-lb-default-web-c27fdhrgrt-f7ncc
link set vethbd3b14a4 master cni0
link set vethbd3b14a4 type bridge_slave hairpin on
link set vethbd3b14a4 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip -n klab-nodeport-lb-laptop -batch - <<'EOF'
link set lo up
addr add 192.168.56.101/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-nodeport-lb-node1 iptables-restore <<'EOF'
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
-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/local has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30001 -j DROP
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
:KUBE-SEP-EJJ3L23ZA35VLW6X - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-R75T7LXI5PWKQPQA - [0:0]
:KUBE-EXT-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-QA4PSDNF5R2OJOPA - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
:KUBE-SEP-TCD3IFXQZW3ZEZQU - [0:0]
:KUBE-EXT-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SVC-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SEP-RRIP2IYJ55HSUSLQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-EJJ3L23ZA35VLW6X
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.3:53" -j KUBE-SEP-R75T7LXI5PWKQPQA
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -m comment --comment "default/web:http loadbalancer IP" -m tcp -p tcp -d 192.168.56.240 --dport 80 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30000 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.2:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-QA4PSDNF5R2OJOPA
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-4EX2N4PG4ASNZOBF
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.3:8080" -j KUBE-SEP-TCD3IFXQZW3ZEZQU
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -s 10.244.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -s 10.244.2.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.2:8080
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080
-A KUBE-SERVICES -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-NODEPORTS -m comment --comment default/local -m tcp -p tcp --dport 30001 -j KUBE-EXT-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "pod traffic for default/local external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "masquerade LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "route LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local -> 10.244.1.2:8080" -j KUBE-SEP-RRIP2IYJ55HSUSLQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-nodeport-lb-node2 iptables-restore <<'EOF'
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
:KUBE-SEP-EJJ3L23ZA35VLW6X - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-R75T7LXI5PWKQPQA - [0:0]
:KUBE-EXT-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-QA4PSDNF5R2OJOPA - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
:KUBE-SEP-TCD3IFXQZW3ZEZQU - [0:0]
:KUBE-EXT-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SVC-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SVL-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SEP-RRIP2IYJ55HSUSLQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-EJJ3L23ZA35VLW6X
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.3:53" -j KUBE-SEP-R75T7LXI5PWKQPQA
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -m comment --comment "default/web:http loadbalancer IP" -m tcp -p tcp -d 192.168.56.240 --dport 80 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30000 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.2:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-QA4PSDNF5R2OJOPA
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-4EX2N4PG4ASNZOBF
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.3:8080" -j KUBE-SEP-TCD3IFXQZW3ZEZQU
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -s 10.244.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -s 10.244.2.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.2:8080
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080
-A KUBE-SERVICES -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-NODEPORTS -m comment --comment default/local -m tcp -p tcp --dport 30001 -j KUBE-EXT-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "pod traffic for default/local external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "masquerade LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "route LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-EXT-NEXWZWH5PGMW4KIO -j KUBE-SVL-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local -> 10.244.1.2:8080" -j KUBE-SEP-RRIP2IYJ55HSUSLQ
-A KUBE-SVL-NEXWZWH5PGMW4KIO -m comment --comment "default/local -> 10.244.1.2:8080" -j KUBE-SEP-RRIP2IYJ55HSUSLQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-nodeport-lb-node3 iptables-restore <<'EOF'
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
-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/local has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30001 -j DROP
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
:KUBE-SEP-EJJ3L23ZA35VLW6X - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-R75T7LXI5PWKQPQA - [0:0]
:KUBE-EXT-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-QA4PSDNF5R2OJOPA - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
:KUBE-SEP-TCD3IFXQZW3ZEZQU - [0:0]
:KUBE-EXT-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SVC-NEXWZWH5PGMW4KIO - [0:0]
:KUBE-SEP-RRIP2IYJ55HSUSLQ - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-EJJ3L23ZA35VLW6X
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-EJJ3L23ZA35VLW6X -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.1.3:53" -j KUBE-SEP-R75T7LXI5PWKQPQA
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-R75T7LXI5PWKQPQA -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.1.3:53
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -m comment --comment "default/web:http loadbalancer IP" -m tcp -p tcp -d 192.168.56.240 --dport 80 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30000 -j KUBE-EXT-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.2:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-QA4PSDNF5R2OJOPA
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-4EX2N4PG4ASNZOBF
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.3:8080" -j KUBE-SEP-TCD3IFXQZW3ZEZQU
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -s 10.244.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-QA4PSDNF5R2OJOPA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -s 10.244.2.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-4EX2N4PG4ASNZOBF -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.2:8080
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-TCD3IFXQZW3ZEZQU -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080
-A KUBE-SERVICES -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-NODEPORTS -m comment --comment default/local -m tcp -p tcp --dport 30001 -j KUBE-EXT-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "pod traffic for default/local external destinations" -s 10.244.0.0/16 -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "masquerade LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-NEXWZWH5PGMW4KIO -m comment --comment "route LOCAL traffic for default/local external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-NEXWZWH5PGMW4KIO
-A KUBE-SVC-NEXWZWH5PGMW4KIO -m comment --comment "default/local -> 10.244.1.2:8080" -j KUBE-SEP-RRIP2IYJ55HSUSLQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -s 10.244.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RRIP2IYJ55HSUSLQ -m comment --comment default/local -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF

# --- stage 5: pod interfaces
ip -n klab-nodeport-lb-default-local-only -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-nodeport-lb-default-web-c27fdhrgrt-lntbw -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-nodeport-lb-default-web-c27fdhrgrt-f7ncc -batch - <<'EOF'
link set lo up
addr add 10.244.2.2/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-nodeport-lb-default-web-c27fdhrgrt-5drvr -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-nodeport-lb-kube-system-klab-dns-pd5xrtmnvh-njp4z -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-nodeport-lb-default-local-only' '/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-lntbw' '/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-f7ncc' '/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-5drvr' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-nodeport-lb-default-local-only/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-lntbw/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-f7ncc/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-nodeport-lb-default-web-c27fdhrgrt-5drvr/resolv.conf'
