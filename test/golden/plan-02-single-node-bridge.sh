#!/usr/bin/env bash
# klab plan for lab "single-node-bridge": the kernel steps `klab up` applies, in order.
# Steps within a stage touch different namespaces; klab runs them in parallel.
# from: labs/02-single-node-bridge.yaml
set -euo pipefail

# --- stage 1: network namespaces
ip -batch - <<'EOF'
netns add klab-single-node-bridge-fabric
netns add klab-single-node-bridge-node1
netns add klab-single-node-bridge-default-alpha
netns add klab-single-node-bridge-default-beta
netns add klab-single-node-bridge-default-gamma
EOF

# --- stage 2: underlay switch
ip -n klab-single-node-bridge-fabric -batch - <<'EOF'
link set lo up
link add br0 mtu 1500 type bridge
addr add 192.168.56.1/24 dev br0
link set br0 up
link add eth-node1 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-single-node-bridge-node1
link set eth-node1 master br0
link set eth-node1 up
EOF

# --- stage 3: nodes and clients
ip netns exec klab-single-node-bridge-node1 sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
ip -n klab-single-node-bridge-node1 -batch - <<'EOF'
link set lo up
addr add 192.168.56.11/24 dev eth0
link set eth0 up
route add default via 192.168.56.1 dev eth0
link add cni0 mtu 1500 type bridge
addr add 10.244.0.1/24 dev cni0
link set cni0 up
link add vethe0e9d277 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-single-node-bridge-default-alpha
link set vethe0e9d277 master cni0
link set vethe0e9d277 type bridge_slave hairpin on
link set vethe0e9d277 up
link add veth5de363d0 mtu 1500 type veth peer name eth0 mtu 1500 netns klab-single-node-bridge-default-beta
link set veth5de363d0 master cni0
link set veth5de363d0 type bridge_slave hairpin on
link set veth5de363d0 up
link add veth589b075f mtu 1500 type veth peer name eth0 mtu 1500 netns klab-single-node-bridge-default-gamma
link set veth589b075f master cni0
link set veth589b075f type bridge_slave hairpin on
link set veth589b075f up
EOF

# --- stage 4: pod interfaces
ip -n klab-single-node-bridge-default-alpha -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-single-node-bridge-default-beta -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-single-node-bridge-default-gamma -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
