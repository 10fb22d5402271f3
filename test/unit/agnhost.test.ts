import t from "tap";
import { parseAgnhost } from "../../src/workloads/agnhost.js";

const netexec = (httpPort: number, udpPort: number | null) => ({ ok: true, subcommand: "netexec", httpPort, udpPort });
const pause = { ok: true, subcommand: "pause" };

t.test("accepted forms", async (t) => {
  t.same(parseAgnhost(undefined, ["netexec", "--http-port=8080", "--udp-port=8081"]), netexec(8080, 8081));
  t.same(parseAgnhost(undefined, ["netexec", "--http-port", "8080"]), netexec(8080, 8081));
  t.same(parseAgnhost(["/agnhost", "netexec", "--http-port=9000"]), netexec(9000, 8081));
  t.same(parseAgnhost(["agnhost", "pause"], undefined), pause);
  t.same(parseAgnhost(["/agnhost"], ["netexec", "--udp-port=9001"]), netexec(8080, 9001), "command + args");
  t.same(parseAgnhost(undefined, ["netexec"]), netexec(8080, 8081), "agnhost defaults 8080/8081");
  t.same(parseAgnhost(undefined, ["netexec", "--udp-port=-1"]), netexec(8080, null), "-1 disables UDP");
  t.same(parseAgnhost(undefined, ["netexec", "--udp-port", "-1"]), netexec(8080, null), "pflag takes the next word even if it starts with -");
  t.same(parseAgnhost(undefined, ["netexec", "--http-port=0x1F90"]), netexec(8080, 8081), "Go int syntax (ParseInt base 0)");
  t.same(parseAgnhost(undefined, ["netexec", "--http-port=81", "--http-port=82"]), netexec(82, 8081), "last one wins");
});

t.test("image defaults: ENTRYPOINT /agnhost, CMD pause", async (t) => {
  t.same(parseAgnhost(undefined, undefined), pause, "no command, no args: /agnhost pause");
  t.same(parseAgnhost([], []), pause, "empty lists count as unset");
  t.same(parseAgnhost(undefined, ["pause"]), pause);
});

t.test("errors", async (t) => {
  const err = (command: string[] | undefined, args: string[] | undefined, re: RegExp, what: string) => {
    const r = parseAgnhost(command, args);
    t.equal(r.ok, false, what);
    if (!r.ok) t.match(r.error, re, what);
  };
  err(["/agnhost"], undefined, /^agnhost needs a subcommand: netexec or pause$/, "command without args drops CMD");
  err(undefined, ["serve-hostname"], /subcommand "serve-hostname" is not supported by klab \(supported: netexec or pause\)/, "other agnhost subcommand");
  err(undefined, ["netexc"], /subcommand "netexc" is not supported/, "typo");
  err(["/bin/sh", "-c", "sleep 1"], undefined, /command "\/bin\/sh" is not agnhost/, "not agnhost");
  err(undefined, ["/agnhost", "netexec"], /args run after the image's ENTRYPOINT \/agnhost/, "binary repeated in args");
  err(undefined, ["--help"], /agnhost flag --help is not supported/, "root flag");
  err(undefined, ["netexec", "--sctp-port=9000"], /netexec flag --sctp-port is not supported by klab \(supported: --http-port, --udp-port\)/, "known but unsupported");
  err(undefined, ["netexec", "--sctp-port=-1"], /--sctp-port is not supported/, "even its default");
  err(undefined, ["netexec", "--tls-cert-file=/localhost.crt"], /--tls-cert-file is not supported/, "tls");
  err(undefined, ["netexec", "--bogus"], /unknown netexec flag --bogus \(supported: --http-port, --udp-port\)/, "unknown flag");
  err(undefined, ["netexec", "-http-port=8080"], /two dashes: "-http-port=8080" should be "--http-port=8080"/, "single dash");
  err(undefined, ["netexec", "--http-port"], /^flag needs an argument: --http-port$/, "missing value");
  err(undefined, ["netexec", "--http-port=abc"], /invalid argument "abc" for "--http-port" flag/, "not a number");
  err(undefined, ["netexec", "--http-port="], /invalid argument "" for "--http-port" flag/, "empty value");
  err(undefined, ["netexec", "--http-port=08"], /invalid argument "08"/, "leading 0 is octal in Go; 8 is not an octal digit");
  err(undefined, ["netexec", "--http-port=70000"], /--http-port must be 1-65535, got 70000/, "range");
  err(undefined, ["netexec", "--http-port=-1"], /--http-port must be 1-65535/, "http can't be disabled");
  err(undefined, ["netexec", "--udp-port=0"], /--udp-port must be 1-65535, or -1 to disable UDP, got 0/, "udp 0");
  err(undefined, ["netexec", "extra"], /netexec takes no arguments, got \["extra"\]/, "positional");
  err(undefined, ["netexec", "--", "--http-port=1"], /netexec takes no arguments/, "after --");
  err(undefined, ["pause", "--x"], /agnhost pause takes no arguments or flags/, "pause extras");
});
