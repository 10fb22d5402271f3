{
  "targets": [
    {
      "target_name": "klab_netns",
      "sources": ["klab_netns.c", "udp_fastpath.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
