// Entry point of bin/klab.
import { main } from "./main.js";

main().then((code) => {
  process.exitCode = code;
});
