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
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-h99xp
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-79vmb
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-kn7dk
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-lcnzj
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-z7vqk
netns add klab-vxlan-overlay-default-web-rqfqhbtsfj-5kctg
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
link add veth98972cc1 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-79vmb
link set veth98972cc1 master cni0
link set veth98972cc1 type bridge_slave hairpin on
link set veth98972cc1 up
link add veth529fe667 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-z7vqk
link set veth529fe667 master cni0
link set veth529fe667 type bridge_slave hairpin on
link set veth529fe667 up
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
link add vetha3c8b2eb mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-h99xp
link set vetha3c8b2eb master cni0
link set vetha3c8b2eb type bridge_slave hairpin on
link set vetha3c8b2eb up
link add veth39dfc45b mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-kn7dk
link set veth39dfc45b master cni0
link set veth39dfc45b type bridge_slave hairpin on
link set veth39dfc45b up
link add veth47cf9b4b mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-5kctg
link set veth47cf9b4b master cni0
link set veth47cf9b4b type bridge_slave hairpin on
link set veth47cf9b4b up
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
link add vethe3f1dbc7 mtu 1450 type veth peer name eth0 mtu 1450 netns klab-vxlan-overlay-default-web-rqfqhbtsfj-lcnzj
link set vethe3f1dbc7 master cni0
link set vethe3f1dbc7 type bridge_slave hairpin on
link set vethe3f1dbc7 up
link add flannel.1 address 0e:ea:73:c3:5d:69 mtu 1450 type vxlan id 1 local 192.168.56.13 dev eth0 dstport 8472 nolearning
addr add 10.244.2.0/32 dev flannel.1
link set flannel.1 up
neigh add 10.244.0.0 lladdr 0e:c3:f5:01:b1:5f dev flannel.1 nud permanent
route add 10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink
neigh add 10.244.1.0 lladdr 0e:2b:48:ce:25:a5 dev flannel.1 nud permanent
route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
EOF

# --- stage 4: pod interfaces and VXLAN forwarding entries
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
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-h99xp -batch - <<'EOF'
link set lo up
addr add 10.244.1.2/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-79vmb -batch - <<'EOF'
link set lo up
addr add 10.244.0.3/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-kn7dk -batch - <<'EOF'
link set lo up
addr add 10.244.1.3/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-lcnzj -batch - <<'EOF'
link set lo up
addr add 10.244.2.3/24 dev eth0
link set eth0 up
route add default via 10.244.2.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-z7vqk -batch - <<'EOF'
link set lo up
addr add 10.244.0.4/24 dev eth0
link set eth0 up
route add default via 10.244.0.1 dev eth0
EOF
ip -n klab-vxlan-overlay-default-web-rqfqhbtsfj-5kctg -batch - <<'EOF'
link set lo up
addr add 10.244.1.4/24 dev eth0
link set eth0 up
route add default via 10.244.1.1 dev eth0
EOF
