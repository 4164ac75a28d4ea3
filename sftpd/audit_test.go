package sftpd_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pier/internal/testenv"
	"pier/sftpd"
)

var updateAuditPolicy = flag.Bool("update-ssh-audit-policy", false,
	"regenerate "+auditPolicy+" with `ssh-audit -M` against a test server")

// auditPolicy pins the algorithm lists of sftpd.DefaultConfig for
// `ssh-audit -P`. ssh-audit 2.5 (Debian 12) predates some of our
// algorithms, so a policy made once from our server replaces its built-in
// ratings as the reference. Regenerate after changing the lists:
//
//	go test ./sftpd/ -run TestSSHAudit -update-ssh-audit-policy
const auditPolicy = "testdata/ssh-audit-policy.txt"

const auditPolicyName = "pier sftpd, DefaultConfig"

// auditPolicyHeader replaces the header `ssh-audit -M` writes (the scanned
// host and today's date), so a regenerated policy differs only where the
// algorithms do.
const auditPolicyHeader = `#
# ssh-audit 2.5 policy for pier's SFTP server with sftpd.DefaultConfig
# (ChaCha20 and CompatMACs off), made by "ssh-audit -M" against a test
# server. Regenerate it with
#   go test ./sftpd/ -run TestSSHAudit -update-ssh-audit-policy
# It checks algorithms only: policies of ssh-audit 2.5 have no host key
# fingerprint fields (host keys are generated per installation), and the
# banner and compression lines stay commented out.
#
# ssh-audit offers what OpenSSH's client does, AES-GCM included, so it
# sees what such clients are offered: the ciphers without aes-ctr
# (sftpd/prelude.go). Clients that cannot do AES-GCM are offered
# aes128-ctr and aes256-ctr as well; TestCipherOffer pins that.
#
`

// Algorithms pier offers that ssh-audit 2.5 does not know. It reports
// them as "[warn] unknown algorithm" (and exits 2 for that alone), so an
// unknown algorithm is accepted only when named here; any other one means
// our lists changed in a way nobody reviewed.
var newerThanSSHAudit = map[string]string{
	"mlkem768x25519-sha256":        "hybrid post-quantum key exchange (OpenSSH 9.9)",
	"kex-strict-s-v00@openssh.com": "strict key exchange marker against Terrapin (CVE-2023-48795)",
}

// acceptedFails are [fail] ratings of ssh-audit 2.5 that pier accepts on
// purpose, with the exact text ssh-audit gives: it fails every NIST curve
// ("weak elliptic curves", a trust judgement, not a known break). Partner
// systems on JSch 0.1.55 (many Java MFT tools) and FIPS-mode clients know
// no curve25519 and no Ed25519 and have nothing else free of SHA-1. Any
// other [fail], or another text for these, fails the test. Remove an entry
// when the algorithm leaves sftpd.KeyExchanges or the host keys.
var acceptedFails = map[string]string{
	"ecdh-sha2-nistp256":  "using weak elliptic curves",
	"ecdh-sha2-nistp384":  "using weak elliptic curves",
	"ecdsa-sha2-nistp256": "using weak elliptic curves",
}

// TestSSHAudit checks the offered algorithms with ssh-audit: the committed
// policy must pass, a deviating server must fail it, and a plain audit
// must rate nothing [fail] beyond acceptedFails.
func TestSSHAudit(t *testing.T) {
	audit := testenv.Program(t, "ssh-audit")
	e := start(t, false)
	if *updateAuditPolicy {
		writeAuditPolicy(t, audit, e)
	}
	checkPolicyFile(t)

	t.Run("policy", func(t *testing.T) {
		out, code := sshAudit(t, audit, "-P", auditPolicy, "-p", e.port(), "127.0.0.1")
		passed, errs := policyResult(t, out)
		if !passed || code != 0 {
			t.Fatalf("policy failed (exit %d); if the algorithm lists changed on purpose, regenerate %s:\n%s\n%s",
				code, auditPolicy, errs, out)
		}
	})

	// The negative control: proves that a failed policy is recognised,
	// from the output and from the exit code.
	t.Run("policy catches deviations", func(t *testing.T) {
		loose := startWith(t, false, func(c *sftpd.Config) { c.ChaCha20, c.CompatMACs = true, true })
		out, code := sshAudit(t, audit, "-P", auditPolicy, "-p", loose.port(), "127.0.0.1")
		passed, errs := policyResult(t, out)
		if passed || code != 3 {
			t.Fatalf("a server offering chacha20 and encrypt-and-MAC passed the policy (exit %d):\n%s", code, out)
		}
		for _, field := range []string{"Ciphers did not match", "MACs did not match"} {
			if !strings.Contains(errs, field) {
				t.Errorf("policy errors lack %q:\n%s", field, errs)
			}
		}
	})

	t.Run("ratings", func(t *testing.T) {
		out, code := sshAudit(t, audit, "-b", "-p", e.port(), "127.0.0.1")
		findings := parseAudit(out)
		for _, kind := range []string{"kex", "key", "enc", "mac"} {
			if !slices.ContainsFunc(findings, func(f auditFinding) bool { return f.kind == kind }) {
				t.Fatalf("ssh-audit listed no %s algorithm (exit %d): unreadable output?\n%s", kind, code, out)
			}
		}
		worst := 0 // ssh-audit's exit code for the worst rating it printed
		for _, f := range findings {
			switch f.level {
			case "fail":
				worst = 3
				if acceptedFails[f.alg] == f.text {
					t.Logf("accepted [fail] (%s) %s: %s", f.kind, f.alg, f.text)
				} else {
					t.Errorf("ssh-audit rates (%s) %s [fail]: %s", f.kind, f.alg, f.text)
				}
			case "warn":
				worst = max(worst, 2)
				why, known := newerThanSSHAudit[f.alg]
				switch {
				case f.text != "unknown algorithm":
					t.Logf("ssh-audit warns: (%s) %s: %s", f.kind, f.alg, f.text)
				case known:
					t.Logf("unknown to ssh-audit 2.5: (%s) %s: %s", f.kind, f.alg, why)
				default:
					t.Errorf("(%s) %s is unknown to ssh-audit and not in newerThanSSHAudit: an algorithm nobody reviewed", f.kind, f.alg)
				}
			}
		}
		for _, rec := range regexp.MustCompile(`(?m)^\(rec\) .*$`).FindAllString(out, -1) {
			t.Logf("ssh-audit recommends: %s", strings.TrimSpace(rec))
		}
		// The exit code must agree with what was parsed, or the parser
		// missed something.
		if code != worst {
			t.Errorf("ssh-audit exited %d, but the ratings parsed give %d:\n%s", code, worst, out)
		}
	})
}

// sshAudit runs ssh-audit without colours and returns its output and exit
// code; it fails the test if ssh-audit could not run or connect.
func sshAudit(t *testing.T, audit string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, audit, append([]string{"-n", "-t", "20"}, args...)...).CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ssh-audit %v: %v\n%s", args, err, out)
	}
	if code == 1 || code == 255 || code == -1 { // connection or internal error
		t.Fatalf("ssh-audit %v: exit %d\n%s", args, code, out)
	}
	return string(out), code
}

// policyResult reads "Result: ✔ Passed" or "Result: ❌ Failed!" and the
// errors listed after a failure; output without a result line fails.
func policyResult(t *testing.T, out string) (bool, string) {
	t.Helper()
	if !strings.Contains(out, "Policy: "+auditPolicyName+" (version ") {
		t.Fatalf("ssh-audit did not evaluate our policy:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^Result: .*?(Passed|Failed!)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no policy result in the output:\n%s", out)
	}
	_, errs, _ := strings.Cut(out, "\nErrors:")
	return m[1] == "Passed", errs
}

type auditFinding struct{ kind, alg, level, text string }

// parseAudit reads the rating lines of `ssh-audit -b`, e.g.
// "(kex) ecdh-sha2-nistp256 -- [fail] using weak elliptic curves".
func parseAudit(out string) []auditFinding {
	re := regexp.MustCompile(`^\((kex|key|enc|mac)\) (\S+) -- \[(fail|warn|info)\] ?(.*)$`)
	var fs []auditFinding
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := re.FindStringSubmatch(strings.TrimRight(sc.Text(), " ")); m != nil {
			fs = append(fs, auditFinding{m[1], m[2], m[3], m[4]})
		}
	}
	return fs
}

// checkPolicyFile reads the committed policy: it must list exactly what
// sftpd offers by default, nothing weak, and pin no host key.
func checkPolicyFile(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(auditPolicy)
	if err != nil {
		t.Fatalf("%v: generate it with -update-ssh-audit-policy", err)
	}
	fields := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || strings.Contains(strings.ToLower(key), "fingerprint") {
			t.Fatalf("%s: unexpected line %q (host keys must not be pinned)", auditPolicy, line)
		}
		var algs []string
		for a := range strings.SplitSeq(val, ",") {
			algs = append(algs, strings.TrimSpace(a))
		}
		fields[key] = algs
	}
	want := map[string][]string{
		"host keys":     {"ssh-ed25519", "ecdsa-sha2-nistp256"},
		"key exchanges": append(slices.Clone(sftpd.KeyExchanges), "kex-strict-s-v00@openssh.com"),
		// What a client that can do AES-GCM, as ssh-audit can, is offered.
		"ciphers": slices.DeleteFunc(slices.Clone(sftpd.Ciphers), func(c string) bool { return strings.HasSuffix(c, "-ctr") }),
		"macs":    sftpd.MACs,
	}
	for key, algs := range want {
		if !slices.Equal(fields[key], algs) {
			t.Errorf("%s: %s = %v, sftpd offers %v: regenerate the policy", auditPolicy, key, fields[key], algs)
		}
	}
	for key, algs := range fields {
		for _, a := range algs {
			if weakAlgorithm(a) {
				t.Errorf("%s: %s lists %s", auditPolicy, key, a)
			}
		}
	}
	for _, key := range []string{"banner", "compressions"} {
		if _, ok := fields[key]; ok {
			t.Errorf("%s: %s must stay commented out", auditPolicy, key)
		}
	}
}

// weakAlgorithm names what must never be in the default offer: SHA-1,
// chacha20 (slow in Go, off by default), MACs without encrypt-then-MAC,
// CBC and older ciphers, DSA and RSA keys signing with SHA-1.
func weakAlgorithm(a string) bool {
	a = strings.ToLower(a)
	for _, bad := range []string{"sha1", "chacha20", "cbc", "3des", "arcfour", "blowfish", "md5", "ripemd", "ssh-dss", "group1-", "umac-64"} {
		if strings.Contains(a, bad) {
			return true
		}
	}
	return a == "ssh-rsa" || (strings.HasPrefix(a, "hmac-") && !strings.HasSuffix(a, "-etm@openssh.com"))
}

// writeAuditPolicy makes the policy with `ssh-audit -M` and puts our
// header and name into it.
func writeAuditPolicy(t *testing.T, audit string, e *env) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "policy.txt") // -M refuses to overwrite
	if out, code := sshAudit(t, audit, "-M", tmp, "-p", e.port(), "127.0.0.1"); code != 0 {
		t.Fatalf("ssh-audit -M: exit %d\n%s", code, out)
	}
	data, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the generated header: the lines before the first blank one.
	_, body, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		t.Fatalf("unexpected policy layout:\n%s", data)
	}
	body = regexp.MustCompile(`(?m)^name = .*$`).ReplaceAllString(body, fmt.Sprintf("name = %q", auditPolicyName))
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyHeader+"\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", auditPolicy)
}
