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
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-q66cc
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-xfg5b
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-z6r42
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-dq2b9
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-8vlvg
netns add klab-multi-node-routes-default-web-rqfqhbtsfj-qwrt5
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
link add veth2fbf80b1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-xfg5b
link set veth2fbf80b1 master cni0
link set veth2fbf80b1 type bridge_slave hairpin on
link set veth2fbf80b1 up
link add vethb1833387 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-8vlvg
link set vethb1833387 master cni0
link set vethb1833387 type bridge_slave hairpin on
link set vethb1833387 up
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
link add veth2cbfaa3b mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-q66cc
link set veth2cbfaa3b master cni0
link set veth2cbfaa3b type bridge_slave hairpin on
link set veth2cbfaa3b up
link add veth34906360 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-z6r42
link set veth34906360 master cni0
link set veth34906360 type bridge_slave hairpin on
link set veth34906360 up
link add veth14260d7b mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-qwrt5
link set veth14260d7b master cni0
link set veth14260d7b type bridge_slave hairpin on
link set veth14260d7b up
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
link add veth5633566b mtu 1500 type veth peer name eth0 mtu 1500 netns klab-multi-node-routes-default-web-rqfqhbtsfj-dq2b9
link set veth5633566b master cni0
link set veth5633566b type bridge_slave hairpin on
link set veth5633566b up
route add 10.244.0.0/24 via 192.168.56.11 dev eth0
route add 10.244.1.0/24 via 192.168.56.12 dev eth0
EOF
ip -n klab-multi-node-routes-client1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.101/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
EOF

# --- stage 4: pod interfaces
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
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-q66cc -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-xfg5b -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-z6r42 -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-dq2b9 -batch - <<'EOF'
link set lo up
addr add 10.244.2.3/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-8vlvg -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-multi-node-routes-default-web-rqfqhbtsfj-qwrt5 -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
