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
EOF

# --- stage 4: pod interfaces
ip -n klab-pod-netns-default-web -batch - <<'EOF'
link set lo up
addr add 10.244.0.2/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
