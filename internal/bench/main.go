// Command bench measures a pier binary against its baselines and prints
// every figure of the performance table (README, "Performance") side by
// side with its baseline measured in the same round: a direct minio-go
// PutObject/GetObject, OpenSSH's internal-sftp on a private port, and the
// figure of the previous run kept in previous.json. scripts/bench builds
// pier and runs this under scripts/testenv (PostgreSQL and MinIO).
//
// pier runs as its own processes (PostgreSQL + S3 with WebDAV over plain
// HTTP, the same over TLS, and SQLite + disk on tmpfs for the SFTP layer
// alone), so CPU time is counted per process: pier (or sshd), MinIO, and
// the clients (this process and the OpenSSH sftp and curl it runs). A
// server's peak RSS is its VmHWM, reset before each phase.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/crypto/ssh"

	"pier/storage/s3blob"

	"pier/internal/procstat"
)

const benchUser = "bench"

// phase is one measured step; figures compare phases.
type phase struct {
	name string
	run  func() (sample, error)
}

type bench struct {
	ctx         context.Context
	work        string // scratch directory, on tmpfs when possible
	big         string // the file of size bytes that transfers move
	size        int64
	key         string // private key file of the bench user
	pub         string
	signer      ssh.Signer
	password    string
	pgURL       string
	s3          s3blob.Config
	direct      *minio.Client
	minio       int // PID of the MinIO server
	s3n, tls    *pierNode
	disk        *pierNode
	sshd        *sshd
	peer        *peerServer // -peer
	profileDir  string
	profileSecs int
	bigReady    bool
	notes       map[string][]string
}

func (b *bench) note(name, msg string) { b.notes[name] = append(b.notes[name], msg) }

func main() {
	jsonOut := flag.String("json", "", "also write the figures as JSON to `FILE`")
	previous := flag.String("previous", "internal/bench/previous.json", "figures of the previous run, to compare with")
	rounds := flag.Int("rounds", 1, "rounds of all phases, interleaved; figures are medians")
	only := flag.String("only", "", "run only the phases whose names match this regexp")
	pierBin := flag.String("pier", "", "the pier binary to measure (scripts/bench builds it)")
	sizeMiB := flag.Int64("size", 1024, "MiB moved by each big transfer")
	profile := flag.String("profile", "", "write a CPU profile of pier per phase into `DIR`")
	profileSecs := flag.Int("profile-seconds", 20, "length of each profile; phases wait for it")
	peer := flag.String("peer", "", "shell `COMMAND` that execs another server to measure beside pier (see peer.go)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *pierBin, *peer, *only, *rounds, *sizeMiB<<20, *profile, *profileSecs, *previous, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pierBin, peer, only string, rounds int, size int64, profile string, profileSecs int, previous, jsonOut string) error {
	if pierBin == "" {
		return fmt.Errorf("-pier is missing")
	}
	sel, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	b := &bench{ctx: ctx, size: size, profileDir: profile, profileSecs: profileSecs, notes: map[string][]string{},
		pgURL: os.Getenv("PIER_TEST_PG_URL")}
	if b.pgURL == "" || os.Getenv("PIER_TEST_S3_URL") == "" {
		return fmt.Errorf("run me through scripts/bench (PostgreSQL and MinIO come from scripts/testenv)")
	}
	if profile != "" {
		if err := os.MkdirAll(profile, 0o755); err != nil {
			return err
		}
		exec.Command("cp", pierBin, filepath.Join(profile, "pier")).Run()
	}
	base := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	if b.work, err = os.MkdirTemp(base, "pier-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)
	if err := b.setup(ctx, pierBin, peer); err != nil {
		b.teardown()
		return err
	}
	defer b.teardown()

	pier := func() (target, error) { return b.pierTarget(), nil }
	// The bursts go last: a server that keeps their memory would blur the
	// RSS growth of the listings.
	phases := slices.Concat(b.transferPhases(), b.peerPhases(), b.smallPhases(), b.listPhases(), b.renamePhases(),
		[]phase{b.burstPhase("burst-20x64", 20, pier), b.burstPhase("burst-peer-20x64", 20, b.peerTarget),
			b.burstPhase("burst-200x64", 200, pier)})
	samples := map[string][]sample{}
	for r := 1; r <= rounds; r++ {
		for _, p := range phases {
			if !sel.MatchString(p.name) {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s\n", r, rounds, p.name)
			s, err := p.run()
			if isSkip(err) {
				b.note(p.name, "skipped: "+err.Error())
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			samples[p.name] = append(samples[p.name], s)
			ctxSleep(ctx, 2*time.Second) // let the writeback and the GC of the last phase settle
		}
		// Released blobs of the round go now, so MinIO's disk stays small.
		b.s3n.run(ctx, "", "gc", "--garbage-age", "0s")
	}
	figs := figures(samples, b.notes)
	prev := loadPrevious(previous)
	report(os.Stdout, figs, prev, rounds)
	if jsonOut != "" {
		out := runFile{Date: time.Now().UTC().Format(time.RFC3339), Commit: gitCommit(), Rounds: rounds,
			SizeMiB: size >> 20, Figures: figs}
		data, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// setup makes the bench user's key and the 1 GiB file, starts the pier
// nodes, sshd and the peer, and connects minio-go to the bucket.
func (b *bench) setup(ctx context.Context, pierBin, peer string) error {
	pub, priv, _ := ed25519.GenerateKey(nil)
	b.signer, _ = ssh.NewSignerFromKey(priv)
	block, _ := ssh.MarshalPrivateKey(priv, "pier bench")
	b.key = filepath.Join(b.work, "id_bench")
	b.pub = b.key + ".pub"
	sp, _ := ssh.NewPublicKey(pub)
	if err := os.WriteFile(b.key, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b.pub, ssh.MarshalAuthorizedKey(sp), 0o600); err != nil {
		return err
	}
	b.password = fmt.Sprintf("pw-%016x-%016x", rand.Uint64(), rand.Uint64())

	b.big = filepath.Join(b.work, "big.bin")
	f, err := os.Create(b.big)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{1}), b.size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	s3URL := os.Getenv("PIER_TEST_S3_URL")
	if b.s3, err = s3blob.ParseURL(s3URL, os.Getenv); err != nil {
		return err
	}
	b.minio = procstat.FindMinIO(b.s3.Endpoint)
	b.direct, err = minio.New(b.s3.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(b.s3.AccessKey, b.s3.SecretKey, ""), Secure: b.s3.TLS,
		Region: b.s3.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return err
	}

	env := os.Environ()
	// One bucket for pier and direct: pier's blobs under their own prefix.
	storageURL := strings.Replace(s3URL, "/"+b.s3.Bucket, "/"+b.s3.Bucket+"/pier", 1)
	extra := []string{"--admin-pprof"}
	node := func(name, dbURL, storage string) *pierNode {
		data := filepath.Join(b.work, name)
		return &pierNode{name: name, bin: pierBin, env: env, keepLog: b.profileDir,
			args: []string{"--data", data, "--db", dbURL, "--storage", storage}}
	}
	b.s3n = node("s3", b.pgURL, storageURL)
	b.tls = node("tls", b.pgURL, storageURL)
	b.disk = node("disk", "sqlite:"+filepath.Join(b.work, "disk", "pier.db"), "file:"+filepath.Join(b.work, "disk", "blobs"))
	for _, n := range []*pierNode{b.s3n, b.tls, b.disk} {
		if err := n.setup(ctx, b.pub, b.password); err != nil {
			return err
		}
		if _, err := n.run(ctx, "", "files", "mkdir", "/acme/bench"); err != nil && !strings.Contains(err.Error(), "exist") {
			return err
		}
		if err := n.start(ctx, n == b.tls, extra...); err != nil {
			return err
		}
	}
	if b.sshd, err = startSSHD(ctx, b.work, b.pub); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no internal-sftp baseline:", err)
		b.sshd = nil
	}
	if peer != "" {
		if b.peer, err = b.startPeer(ctx, peer); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) teardown() {
	for _, n := range []*pierNode{b.s3n, b.tls, b.disk} {
		if n != nil {
			n.stop()
		}
	}
	b.sshd.stop()
	b.peer.stop()
}

func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
