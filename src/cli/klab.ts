// Entry point of bin/klab.
import { main } from "./main.js";

// `klab get pods -o json | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main().then((code) => {
  process.exitCode = code;
});
