{
  "targets": [
    {
      "target_name": "klab_netns",
      "sources": ["klab_netns.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
