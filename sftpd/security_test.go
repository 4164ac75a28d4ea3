package sftpd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authz"
	"pier/defender"
	"pier/identity"
	"pier/internal/testenv"
	"pier/mfa"
	"pier/secevent"
	"pier/sftpd"
	"pier/vpath"
)

// secure starts a server with a defender of cfg (scaled down for tests
// by the caller) and, when ca is set, SSH user certificates of that CA.
func secure(t *testing.T, prod bool, cfg defender.Config, ca ssh.PublicKey) (*env, *defender.Defender, *mfa.Sealer) {
	t.Helper()
	var def *defender.Defender
	sealer, err := mfa.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	e := startFull(t, prod, func(c *sftpd.Config) { c.Revalidate = 300 * time.Millisecond }, func(e *env) ([]auth.Option, []sftpd.Option) {
		var err error
		if def, err = defender.New(cfg, e.db, secevent.Log{L: e.log}, e.log); err != nil {
			t.Fatal(err)
		}
		e.barrier = def
		opts := []auth.Option{auth.WithGuard(def), auth.WithMFA(sealer, identity.Policy{MFA: identity.MFAOff, MFAKeys: "no"}),
			auth.WithEvents(counter{secevent.Log{L: e.log}, &e.checked})}
		if ca != nil {
			opts = append(opts, auth.WithUserCAs([]ssh.PublicKey{ca}))
		}
		return opts, []sftpd.Option{sftpd.WithDefender(def)}
	})
	return e, def, sealer
}

// counter counts the wrong passwords the gate checked, then logs.
type counter struct {
	secevent.Sink
	n *atomic.Int64
}

func (c counter) Record(ctx context.Context, ev secevent.Event) {
	if ev.Kind == secevent.LoginRefused && ev.Reason == "wrong password" {
		c.n.Add(1)
	}
	c.Sink.Record(ctx, ev)
}

// fastDefender is the default defender with short times, so that bans
// end within a test.
func fastDefender() defender.Config {
	c := defender.DefaultConfig()
	c.Delay, c.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	c.BanTime, c.MaxBanTime = 3*time.Second, 10*time.Second
	c.CacheTTL = 200 * time.Millisecond
	return c
}

// opensshLogin runs OpenSSH's sftp from a source address with a password
// (through sshpass) or a key, listing /acme, and reports whether it
// logged in.
func (e *env) opensshLogin(t *testing.T, from, login, password, keyFile string) (bool, string) {
	t.Helper()
	sftpBin := testenv.Program(t, "sftp")
	args := []string{"-P", e.port(), "-o", "UserKnownHostsFile=" + e.knownHosts(t), "-o", "StrictHostKeyChecking=yes",
		"-o", "BindAddress=" + from, "-o", "ConnectTimeout=10", "-o", "IdentityAgent=none", "-o", "NumberOfPasswordPrompts=1"}
	var cmd *exec.Cmd
	if keyFile != "" {
		args = append(args, "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey", "-i", keyFile, "-b", "-", login+"@127.0.0.1")
		cmd = exec.Command(sftpBin, args...)
	} else {
		args = append(args, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive,password", login+"@127.0.0.1")
		cmd = exec.Command(testenv.Program(t, "sshpass"), append([]string{"-p", password, sftpBin}, args...)...)
	}
	cmd.Stdin = strings.NewReader("ls /acme\n")
	out, err := cmd.CombinedOutput()
	return err == nil && strings.Contains(string(out), "ls /acme"), string(out)
}

// TestAttackOneSource: 100 wrong passwords from one address ban it; the
// right password from another address still works; the ban ends.
func TestAttackOneSource(t *testing.T) {
	bothBackends(t, func(t *testing.T, prod bool) {
		cfg := fastDefender()
		cfg.BanTime, cfg.MaxBanTime = time.Hour, time.Hour // longer than the attack takes, even under -race
		e, def, _ := secure(t, prod, cfg, nil)
		start := time.Now()
		refusedAtConnect := 0
		for i := 0; i < 100; i++ {
			ok, out := e.opensshLogin(t, "127.0.0.1", "anna", fmt.Sprintf("wrong password number %d", i), "")
			if ok {
				t.Fatalf("wrong password %d logged in:\n%s", i, out)
			}
			if strings.Contains(out, "Connection closed") || strings.Contains(out, "reset") || strings.Contains(out, "closed by remote host") {
				refusedAtConnect++
			}
		}
		t.Logf("100 wrong passwords from 127.0.0.1 in %v; %d refused at connect", time.Since(start).Round(time.Millisecond), refusedAtConnect)
		if refusedAtConnect < 80 {
			t.Errorf("only %d of 100 attempts refused at connect: the source was not banned at once", refusedAtConnect)
		}
		if ok, out := e.opensshLogin(t, "127.0.0.1", "anna", password, ""); ok {
			t.Fatalf("the banned source logged in with the right password:\n%s", out)
		}
		if ok, out := e.opensshLogin(t, "127.0.0.2", "anna", password, ""); !ok {
			t.Fatalf("the right password from 127.0.0.2 refused:\n%s", out)
		}
		bans, _ := def.Bans(context.Background())
		if len(bans) != 1 || bans[0].Source != "127.0.0.1" || bans[0].Count != 1 {
			t.Fatalf("bans %+v, want one ban of 127.0.0.1", bans)
		}
		// The ban's hour passes: its end moves to the past, as time would
		// move it, and every node's cache sees it within its TTL.
		if _, err := e.db.Exec(context.Background(), "UPDATE defender_bans SET until_at = ?", time.Now().Add(-time.Second).Unix()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(fastDefender().CacheTTL + 100*time.Millisecond)
		if ok, out := e.opensshLogin(t, "127.0.0.1", "anna", password, ""); !ok {
			t.Fatalf("still refused after the ban ended:\n%s", out)
		}
	})
}

// TestAttackManySources: 30 addresses guessing one account's password
// get it guarded: even the right password is refused from a new address,
// while the owner gets in from an address it used before, or with a key.
func TestAttackManySources(t *testing.T) {
	bothBackends(t, func(t *testing.T, prod bool) {
		e, def, _ := secure(t, prod, fastDefender(), nil)
		if ok, out := e.opensshLogin(t, "127.0.0.200", "anna", password, ""); !ok {
			t.Fatalf("the owner's first login:\n%s", out)
		}
		for i := 1; i <= 30; i++ {
			if ok, out := e.opensshLogin(t, fmt.Sprintf("127.0.0.%d", i), "anna", fmt.Sprintf("guess %d from source %d", i, i), ""); ok {
				t.Fatalf("guess from 127.0.0.%d logged in:\n%s", i, out)
			}
		}
		if bans, _ := def.Bans(context.Background()); len(bans) != 0 {
			t.Errorf("one guess per source banned sources: %+v", bans)
		}
		if ok, _ := e.opensshLogin(t, "127.0.0.31", "anna", password, ""); ok {
			t.Fatal("guarded account: the right password from a new address logged in (the guess would have been checked)")
		}
		if ok, out := e.opensshLogin(t, "127.0.0.200", "anna", password, ""); !ok {
			t.Fatalf("the owner from a known address refused:\n%s", out)
		}
		if ok, out := e.opensshLogin(t, "127.0.0.201", "anna", "", e.keys["anna"]); !ok {
			t.Fatalf("the owner with a key from a new address refused:\n%s", out)
		}
		if ok, out := e.opensshLogin(t, "127.0.0.202", "acme-edi", password, ""); !ok {
			t.Fatalf("another account from a new address refused:\n%s", out)
		}
	})
}

// TestTOTPOverSSH: keyboard-interactive asks the password and then the
// code; OpenSSH with the code after the password in one field (sshpass)
// logs in; the same code again is refused (replay).
func TestTOTPOverSSH(t *testing.T) {
	bothBackends(t, func(t *testing.T, prod bool) {
		e, _, sealer := secure(t, prod, fastDefender(), nil)
		ctx := context.Background()
		u, _ := e.ids.GetUser(ctx, "anna")
		en, _ := mfa.NewTOTP("pier", "anna")
		recovery, hashes := mfa.RecoveryCodes(1)
		if err := e.ids.SetTOTP(ctx, "anna", sealer.Seal(u.ID, en.Secret), hashes); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dial(t, "anna", ssh.Password(password)); err == nil {
			t.Fatal("the password alone logged in an account with TOTP")
		}
		now := time.Now()
		c0, _ := mfa.Code(en.Secret, mfa.Step(now)-1)
		var prompts []string
		ki := ssh.KeyboardInteractive(func(_, instr string, qs []string, _ []bool) ([]string, error) {
			prompts = append(prompts, qs...)
			if len(qs) == 1 && strings.HasPrefix(qs[0], "Password") {
				return []string{password}, nil
			}
			return []string{c0}, nil
		})
		if _, err := e.dial(t, "anna", ki); err != nil {
			t.Fatalf("keyboard-interactive with password and code: %v (prompts %q)", err, prompts)
		}
		if _, err := e.dial(t, "anna", ki); err == nil {
			t.Fatal("the same code logged in twice (replay)")
		}
		c1, _ := mfa.Code(en.Secret, mfa.Step(now))
		if ok, out := e.opensshLogin(t, "127.0.0.1", "anna", password+c1, ""); !ok {
			t.Fatalf("OpenSSH with password+code in one field refused:\n%s", out)
		}
		if ok, _ := e.opensshLogin(t, "127.0.0.1", "anna", password+c1, ""); ok {
			t.Fatal("OpenSSH replaying password+code logged in")
		}
		// A password, then the code on its own, as clients that follow a
		// partial success do.
		c2, _ := mfa.Code(en.Secret, mfa.Step(now)+1)
		if _, err := e.dial(t, "anna", ssh.Password(password), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			return []string{c2}, nil
		})); err != nil {
			t.Fatalf("password, then the code after a partial success: %v", err)
		}
		// Key + code when the organisation's policy says so.
		if err := e.ids.SetOrgPolicy(ctx, "hq", identity.Policy{MFAKeys: "yes"}); err != nil {
			t.Fatal(err)
		}
		signer := e.signerOf(t, "anna")
		if _, err := e.dial(t, "anna", ssh.PublicKeys(signer)); err == nil {
			t.Fatal("key alone logged in under mfa-keys yes")
		}
		c3, _ := mfa.Code(en.Secret, mfa.Step(now)+1) // used: the last step accepted
		if _, err := e.dial(t, "anna", ssh.PublicKeys(signer), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			return []string{c3}, nil
		})); err == nil {
			t.Fatal("key + an already used code logged in")
		}
		answer := func(code string) ssh.AuthMethod {
			return ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) { return []string{code}, nil })
		}
		if _, err := e.dial(t, "anna", ssh.PublicKeys(signer), answer(recovery[0])); err != nil {
			t.Fatalf("key + a recovery code: %v", err)
		}
		if _, err := e.dial(t, "anna", ssh.PublicKeys(signer), answer(recovery[0])); err == nil {
			t.Fatal("a recovery code worked twice")
		}
	})
}

// keygen runs ssh-keygen.
func keygen(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := run(t, dir, testenv.Program(t, "ssh-keygen"), args...); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

// TestCertificatesWithOpenSSH: certificates made by ssh-keygen -s log in
// with OpenSSH's sftp for their principal; a revoked one is refused and
// its open session ends; an expired key is refused and ends its session.
func TestCertificatesWithOpenSSH(t *testing.T) {
	bothBackends(t, func(t *testing.T, prod bool) {
		dir := t.TempDir()
		keygen(t, dir, "-q", "-t", "ed25519", "-N", "", "-C", "test CA", "-f", "ca")
		keygen(t, dir, "-q", "-t", "ed25519", "-N", "", "-C", "acme-edi", "-f", "user")
		keygen(t, dir, "-q", "-s", "ca", "-I", "acme-edi@edi-box", "-n", "acme-edi", "-V", "-5m:+1h", "-z", "7001", "user.pub")
		caPub := readPub(t, filepath.Join(dir, "ca.pub"))
		e, _, _ := secure(t, prod, fastDefender(), caPub)
		ctx := context.Background()
		key := filepath.Join(dir, "user") // sftp picks up user-cert.pub beside it
		if ok, out := e.opensshLogin(t, "127.0.0.1", "acme-edi", "", key); !ok {
			t.Fatalf("certificate login with OpenSSH refused:\n%s", out)
		}
		// Wrong principal: a certificate for anna used as acme-edi.
		keygen(t, dir, "-q", "-s", "ca", "-I", "anna-cert", "-n", "anna", "-V", "-5m:+1h", "-z", "7002", "-O", "clear", "user.pub")
		if ok, _ := e.opensshLogin(t, "127.0.0.1", "acme-edi", "", key); ok {
			t.Fatal("a certificate for principal anna logged in as acme-edi")
		}
		// Expired certificate.
		keygen(t, dir, "-q", "-s", "ca", "-I", "old", "-n", "acme-edi", "-V", "20200101:20200102", "-z", "7003", "user.pub")
		if ok, _ := e.opensshLogin(t, "127.0.0.1", "acme-edi", "", key); ok {
			t.Fatal("an expired certificate logged in")
		}
		// A good one again; an open session; then revoke it by serial.
		keygen(t, dir, "-q", "-s", "ca", "-I", "acme-edi@edi-box", "-n", "acme-edi", "-V", "-5m:+1h", "-z", "7004", "user.pub")
		certSigner := certSigner(t, dir)
		c, err := e.dial(t, "acme-edi", ssh.PublicKeys(certSigner))
		if err != nil {
			t.Fatalf("certificate login (Go client): %v", err)
		}
		if err := e.ids.RevokeCert(ctx, authz.Revocation{Kind: authz.RevokeSerial, Value: "7004"}, "test"); err != nil {
			t.Fatal(err)
		}
		took := waitClosed(t, c, 5*time.Second)
		t.Logf("revoked certificate's session closed after %v", took.Round(time.Millisecond))
		if ok, _ := e.opensshLogin(t, "127.0.0.1", "acme-edi", "", key); ok {
			t.Fatal("a revoked certificate logged in")
		}
		// An expired key: refused, and its session ends.
		c, err = e.dial(t, "anna", ssh.PublicKeys(e.signerOf(t, "anna")))
		if err != nil {
			t.Fatal(err)
		}
		fp := ssh.FingerprintSHA256(e.signerOf(t, "anna").PublicKey())
		if err := e.ids.SetKeyExpiry(ctx, "anna", fp, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, 5*time.Second)
		if ok, _ := e.opensshLogin(t, "127.0.0.1", "anna", "", e.keys["anna"]); ok {
			t.Fatal("an expired key logged in")
		}
	})
}

func readPub(t *testing.T, file string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certSigner signs with dir/user and presents dir/user-cert.pub.
func certSigner(t *testing.T, dir string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "user"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ssh.NewCertSigner(readPub(t, filepath.Join(dir, "user-cert.pub")).(*ssh.Certificate), s)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestGuessingRate measures how many password guesses per second an
// attacker gets checked, with the defender off (as before it existed) and
// on (defaults), from one address and from 30. It takes a minute, so it
// runs only with PIER_TEST_GUESS_RATE=1.
func TestGuessingRate(t *testing.T) {
	if os.Getenv("PIER_TEST_GUESS_RATE") != "1" {
		t.Skip("set PIER_TEST_GUESS_RATE=1 to measure")
	}
	off := defender.Config{}
	for _, c := range []struct {
		name    string
		cfg     defender.Config
		sources int
	}{{"off, 1 source", off, 1}, {"on, 1 source", defender.DefaultConfig(), 1},
		{"off, 30 sources", off, 30}, {"on, 30 sources", defender.DefaultConfig(), 30}} {
		e, _, _ := secure(t, false, c.cfg, nil)
		sent, took := guess(t, e, c.sources, 8, 15*time.Second)
		checked := e.checked.Load()
		t.Logf("defender %s: %d guesses sent, %d checked in %v: %.1f guesses/s checked", c.name, sent, checked,
			took.Round(time.Millisecond), float64(checked)/took.Seconds())
	}
}

// guess runs workers that try wrong passwords for d, 4 per connection,
// from n source addresses, and counts the guesses the server answered.
func guess(t *testing.T, e *env, sources, workers int, d time.Duration) (int, time.Duration) {
	var mu sync.Mutex
	n := 0
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Since(start) < d; i++ {
				from := fmt.Sprintf("127.0.0.%d", 1+(w+i*workers)%sources)
				dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
				nc, err := dialer.Dial("tcp", e.addr)
				if err != nil {
					continue
				}
				tries := 0
				cfg := &ssh.ClientConfig{User: "anna", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
					Auth: []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
						tries++
						return fmt.Sprintf("guess %d-%d-%d", w, i, tries), nil
					}), 4)}}
				nc.SetDeadline(time.Now().Add(d))
				conn, _, _, err := ssh.NewClientConn(nc, e.addr, cfg)
				if err == nil {
					conn.Close()
				}
				nc.Close()
				mu.Lock()
				n += tries
				mu.Unlock()
				if tries == 0 {
					time.Sleep(10 * time.Millisecond) // refused at connect: an attacker would move on
				}
			}
		})
	}
	wg.Wait()
	return n, time.Since(start)
}

// TestBanEndsOpenSessions: banning a source (here by an administrator)
// ends the sessions already open from it within seconds, transfers
// included; sessions from other sources go on.
func TestBanEndsOpenSessions(t *testing.T) {
	bothBackends(t, func(t *testing.T, prod bool) {
		e, def, _ := secure(t, prod, fastDefender(), nil)
		open := func(src string) *sftp.Client {
			t.Helper()
			conn, err := e.dialFrom(src, "acme-edi", ssh.PublicKeys(e.signer))
			if err != nil {
				t.Fatal(err)
			}
			c, err := sftp.NewClient(conn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		banned, other := open("127.0.0.5"), open("127.0.0.6")
		f, err := banned.Create("/acme/inbound/during-ban.edi")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("UNB+")); err != nil {
			t.Fatal(err)
		}
		if _, err := def.Ban(context.Background(), "127.0.0.5", time.Hour, "seen attacking"); err != nil {
			t.Fatal(err)
		}
		t.Logf("the banned source's session closed %v after the ban", waitClosed(t, banned, 5*time.Second))
		if _, err := other.Stat("/acme/inbound"); err != nil {
			t.Fatalf("a session from another source after the ban: %v", err)
		}
		if _, err := e.store.Stat(context.Background(), vpath.MustParse("/acme/inbound/during-ban.edi")); err == nil {
			t.Fatal("the upload cut by the ban was published")
		}
	})
}
