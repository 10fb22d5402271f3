#!/usr/bin/env bash
# klab plan for lab "dns": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/08-dns.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-dns-fabric
netns add klab-dns-node1
netns add klab-dns-node2
netns add klab-dns-default-db-0
netns add klab-dns-default-db-1
netns add klab-dns-other-web
netns add klab-dns-default-client
netns add klab-dns-default-custom
netns add klab-dns-default-web-8rwn67dpvd-qdx5g
netns add klab-dns-default-web-8rwn67dpvd-9l547
netns add klab-dns-default-web-8rwn67dpvd-krt2m
netns add klab-dns-kube-system-klab-dns-pd5xrtmnvh-xl9xv
EOF

# --- stage 2: underlay switch
ip -n klab-dns-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-node1
link set eth-node1 master br0
link set eth-node1 up
link add eth-node2 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-node2
link set eth-node2 master br0
link set eth-node2 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-dns-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-dns-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add veth51379775 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-db-0
link set veth51379775 master cni0
link set veth51379775 type bridge_slave hairpin on
link set veth51379775 up
link add vethb08028a6 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-other-web
link set vethb08028a6 master cni0
link set vethb08028a6 type bridge_slave hairpin on
link set vethb08028a6 up
link add veth286001c7 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-custom
link set veth286001c7 master cni0
link set veth286001c7 type bridge_slave hairpin on
link set veth286001c7 up
link add veth1b9e578c mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-web-8rwn67dpvd-9l547
link set veth1b9e578c master cni0
link set veth1b9e578c type bridge_slave hairpin on
link set veth1b9e578c up
link add vethee01e563 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-kube-system-klab-dns-pd5xrtmnvh-xl9xv
link set vethee01e563 master cni0
link set vethee01e563 type bridge_slave hairpin on
link set vethee01e563 up
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip netns exec klab-dns-node2 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-dns-node2 -batch - <<'EOF'
link set lo up
addr add 192.168.56.12/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.1.1/24 dev cni0
link set cni0 up
link add veth8af6b5db mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-db-1
link set veth8af6b5db master cni0
link set veth8af6b5db type bridge_slave hairpin on
link set veth8af6b5db up
link add veth9587c25d mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-client
link set veth9587c25d master cni0
link set veth9587c25d type bridge_slave hairpin on
link set veth9587c25d up
link add vethd8d34712 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-web-8rwn67dpvd-qdx5g
link set vethd8d34712 master cni0
link set vethd8d34712 type bridge_slave hairpin on
link set vethd8d34712 up
link add veth88947385 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-dns-default-web-8rwn67dpvd-krt2m
link set veth88947385 master cni0
link set veth88947385 type bridge_slave hairpin on
link set veth88947385 up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
EOF

# --- stage 4: kube-proxy rules (iptables)
ip netns exec klab-dns-node1 iptables-restore <<'EOF'
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
:KUBE-SEP-IRMT6RY5EEEBXDAY - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-2Z3537XSN3RJRU3M - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-LOQZ6LJZSXX5P3TW - [0:0]
:KUBE-SEP-7U6MWNJWR3SADOJA - [0:0]
:KUBE-SEP-AFGSLHOD2HFNCBX4 - [0:0]
:KUBE-SVC-ZVK5NVCANE3Z3FL2 - [0:0]
:KUBE-SEP-O2BBWQKSPP2NCYOF - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.6:53" -j KUBE-SEP-IRMT6RY5EEEBXDAY
-A KUBE-SEP-IRMT6RY5EEEBXDAY -m comment --comment kube-system/kube-dns:dns -s 10.244.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-IRMT6RY5EEEBXDAY -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.6:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.0.6:53" -j KUBE-SEP-2Z3537XSN3RJRU3M
-A KUBE-SEP-2Z3537XSN3RJRU3M -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-2Z3537XSN3RJRU3M -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.0.6:53
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.4:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-LOQZ6LJZSXX5P3TW
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-7U6MWNJWR3SADOJA
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-AFGSLHOD2HFNCBX4
-A KUBE-SEP-LOQZ6LJZSXX5P3TW -m comment --comment default/web:http -s 10.244.1.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-LOQZ6LJZSXX5P3TW -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.4:8080
-A KUBE-SEP-7U6MWNJWR3SADOJA -m comment --comment default/web:http -s 10.244.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-7U6MWNJWR3SADOJA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.5:8080
-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -m comment --comment "other/web:http cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j KUBE-SVC-ZVK5NVCANE3Z3FL2
-A KUBE-SVC-ZVK5NVCANE3Z3FL2 -m comment --comment "other/web:http cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ZVK5NVCANE3Z3FL2 -m comment --comment "other/web:http -> 10.244.0.3:8080" -j KUBE-SEP-O2BBWQKSPP2NCYOF
-A KUBE-SEP-O2BBWQKSPP2NCYOF -m comment --comment other/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-O2BBWQKSPP2NCYOF -m comment --comment other/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF
ip netns exec klab-dns-node2 iptables-restore <<'EOF'
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
:KUBE-SEP-IRMT6RY5EEEBXDAY - [0:0]
:KUBE-SVC-ERIFXISQEP7F7OF4 - [0:0]
:KUBE-SEP-2Z3537XSN3RJRU3M - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-LOQZ6LJZSXX5P3TW - [0:0]
:KUBE-SEP-7U6MWNJWR3SADOJA - [0:0]
:KUBE-SEP-AFGSLHOD2HFNCBX4 - [0:0]
:KUBE-SVC-ZVK5NVCANE3Z3FL2 - [0:0]
:KUBE-SEP-O2BBWQKSPP2NCYOF - [0:0]
:KUBE-PROXY-CANARY - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.6:53" -j KUBE-SEP-IRMT6RY5EEEBXDAY
-A KUBE-SEP-IRMT6RY5EEEBXDAY -m comment --comment kube-system/kube-dns:dns -s 10.244.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-IRMT6RY5EEEBXDAY -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.6:53
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 53 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.0.6:53" -j KUBE-SEP-2Z3537XSN3RJRU3M
-A KUBE-SEP-2Z3537XSN3RJRU3M -m comment --comment kube-system/kube-dns:dns-tcp -s 10.244.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-2Z3537XSN3RJRU3M -m comment --comment kube-system/kube-dns:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.244.0.6:53
-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.11 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.4:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-LOQZ6LJZSXX5P3TW
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-7U6MWNJWR3SADOJA
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-AFGSLHOD2HFNCBX4
-A KUBE-SEP-LOQZ6LJZSXX5P3TW -m comment --comment default/web:http -s 10.244.1.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-LOQZ6LJZSXX5P3TW -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.4:8080
-A KUBE-SEP-7U6MWNJWR3SADOJA -m comment --comment default/web:http -s 10.244.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-7U6MWNJWR3SADOJA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.5:8080
-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -m comment --comment "other/web:http cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 -j KUBE-SVC-ZVK5NVCANE3Z3FL2
-A KUBE-SVC-ZVK5NVCANE3Z3FL2 -m comment --comment "other/web:http cluster IP" -m tcp -p tcp -d 10.96.0.12 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-ZVK5NVCANE3Z3FL2 -m comment --comment "other/web:http -> 10.244.0.3:8080" -j KUBE-SEP-O2BBWQKSPP2NCYOF
-A KUBE-SEP-O2BBWQKSPP2NCYOF -m comment --comment other/web:http -s 10.244.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-O2BBWQKSPP2NCYOF -m comment --comment other/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
EOF

# --- stage 5: pod interfaces
ip -n klab-dns-default-db-0 -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-dns-default-db-1 -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-dns-other-web -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-dns-default-client -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-dns-default-custom -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-dns-default-web-8rwn67dpvd-qdx5g -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-dns-default-web-8rwn67dpvd-9l547 -batch - <<'EOF'
link set lo up
addr add 10.244.0.5/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-dns-default-web-8rwn67dpvd-krt2m -batch - <<'EOF'
link set lo up
addr add 10.244.1.5/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-dns-kube-system-klab-dns-pd5xrtmnvh-xl9xv -batch - <<'EOF'
link set lo up
addr add 10.244.0.6/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF

# --- stage 6: pod resolv.conf (/etc/netns)
mkdir -p '/etc/netns/klab-dns-default-db-0' '/etc/netns/klab-dns-default-db-1' '/etc/netns/klab-dns-other-web' '/etc/netns/klab-dns-default-client' '/etc/netns/klab-dns-default-custom' '/etc/netns/klab-dns-default-web-8rwn67dpvd-qdx5g' '/etc/netns/klab-dns-default-web-8rwn67dpvd-9l547' '/etc/netns/klab-dns-default-web-8rwn67dpvd-krt2m' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-db-0/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-db-1/resolv.conf' &&
printf '%s' 'search other.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-other-web/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-client/resolv.conf' &&
printf '%s' 'search other.svc.cluster.local
nameserver 10.96.0.10
options ndots:1
' >'/etc/netns/klab-dns-default-custom/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-web-8rwn67dpvd-qdx5g/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-web-8rwn67dpvd-9l547/resolv.conf' &&
printf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
' >'/etc/netns/klab-dns-default-web-8rwn67dpvd-krt2m/resolv.conf'
