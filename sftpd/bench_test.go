package sftpd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/auth"
	"pier/authfs"
	"pier/authz"
	"pier/credential"
	"pier/identity"
	"pier/internal/testenv"
	"pier/locks"
	"pier/sftpd"
	"pier/storage"
	"pier/storage/s3blob"
	"pier/storage/sqlcatalog"
	"pier/vpath"

	"pier/internal/procstat"
)

// The benchmarks below need PostgreSQL and MinIO: run them through
// scripts/bench, or by hand with
//
//	scripts/testenv go test -run XXX -bench SFTPTransfer -benchtime 1x ./sftpd/
//
// MB is 10^6 bytes. PIER_BENCH_CONTENT_SHA256 (auto, on, off) overrides
// the store's content-sha256 setting; the direct minio-go transfers never
// sign their payload, like the baseline of the brief ("without SHA-256
// streaming").

const (
	bigSize   = 1 << 30
	smallSize = 10 << 10
	smallN    = 1000
	smallPar  = 8 // SFTP sessions and direct goroutines
)

// benchEnv is an SFTP server on PostgreSQL and MinIO with one user, anna,
// who may do anything below /acme, and a minio-go client of the same bucket.
type benchEnv struct {
	addr       string
	dir        string
	keyFile    string // anna's private key, OpenSSH format
	signer     ssh.Signer
	knownHosts string
	store      *storage.FS
	s3         s3blob.Config
	storeReqs  *reqCounter // requests of pier's blob store
	direct     *minio.Client
	directReqs *reqCounter
	putOpts    minio.PutObjectOptions // of direct PUTs
}

// startBench is start for benchmarks: it builds the S3 store itself, so
// that its HTTP requests can be counted.
func startBench(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	e := &benchEnv{dir: b.TempDir()}
	d := testenv.Postgres(b)
	cfg, err := s3blob.ParseURL(testenv.S3URL(b), os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	if v := os.Getenv("PIER_BENCH_CONTENT_SHA256"); v != "" {
		cfg.ContentSHA256 = v
	}
	e.s3 = cfg
	e.storeReqs = newReqCounter(b, cfg.TLS)
	cfg.Transport = e.storeReqs
	blobs, err := s3blob.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	e.directReqs = newReqCounter(b, cfg.TLS)
	e.direct, err = minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.TLS,
		Region: cfg.Region, BucketLookup: minio.BucketLookupPath, Transport: e.directReqs,
	})
	if err != nil {
		b.Fatal(err)
	}
	e.putOpts = minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true}
	// A first request outside any measurement: minio-go looks up the
	// bucket's region once, and 8 goroutines would each do it.
	warm := e.s3.Prefix + "direct/warm"
	if _, err := e.direct.PutObject(ctx, cfg.Bucket, warm, strings.NewReader("x"), 1, e.putOpts); err != nil {
		b.Fatal(err)
	}
	e.direct.RemoveObject(ctx, cfg.Bucket, warm, minio.RemoveObjectOptions{})
	e.directReqs.take()

	ids := identity.New(d)
	e.store = storage.New(sqlcatalog.New(d), blobs)
	hasher, err := credential.NewHasher(credential.DefaultParams(), 2)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range []identity.Org{{Slug: "hq", Kind: identity.Internal}, {Slug: "acme"}} {
		if _, err := ids.AddOrg(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.store.MkdirAll(ctx, vpath.MustParse("/acme/staff"), "admin"); err != nil {
		b.Fatal(err)
	}
	if _, err := ids.AddUser(ctx, identity.User{Login: "anna", Org: "hq", PasswordHash: hash}); err != nil {
		b.Fatal(err)
	}
	sub, _ := authz.ParseSubject("user:anna")
	perms, _ := authz.ParsePerms("full")
	if _, err := ids.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse("/acme"), Perms: perms}, "bench"); err != nil {
		b.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	e.signer, _ = ssh.NewSignerFromKey(priv)
	block, _ := ssh.MarshalPrivateKey(priv, "anna bench key")
	e.keyFile = filepath.Join(e.dir, "id_anna")
	if err := os.WriteFile(e.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		b.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	if _, err := ids.AddKey(ctx, "anna", identity.Key{Fingerprint: ssh.FingerprintSHA256(sp), Type: sp.Type(),
		PublicKey: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp)))}); err != nil {
		b.Fatal(err)
	}

	log := slog.New(slog.DiscardHandler)
	hostDir := filepath.Join(e.dir, "hostkeys")
	srv, err := sftpd.New(sftpd.DefaultConfig(hostDir), auth.New(ids, hasher, log), authfs.New(authfs.DefaultConfig(), e.store, ids, locks.New(d), log), log)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e.addr = ln.Addr().String()
	keys, err := sftpd.LoadHostKeys(hostDir)
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.addr)
	var kh strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&kh, "[127.0.0.1]:%s %s", port, ssh.MarshalAuthorizedKey(k.PublicKey()))
	}
	e.knownHosts = filepath.Join(e.dir, "known_hosts")
	if err := os.WriteFile(e.knownHosts, []byte(kh.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	e.storeReqs.take() // the bucket check of Open
	return e
}

// client logs anna in with her key, offering only aes128-gcm, and opens
// an SFTP session with 64 concurrent requests per file.
func (e *benchEnv) client(b *testing.B) *sftp.Client {
	b.Helper()
	conn, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "anna", Auth: []ssh.AuthMethod{ssh.PublicKeys(e.signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		Config: ssh.Config{Ciphers: []string{ssh.CipherAES128GCM}}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// BenchmarkSFTPTransfer puts and gets 1 GiB through pier (pkg/sftp client,
// then OpenSSH's sftp) and directly through minio-go to the same MinIO,
// and reports MB/s, the ratios to direct, the S3 requests of pier's store
// and the memory of each phase. Every download is checked by SHA-256.
func BenchmarkSFTPTransfer(b *testing.B) {
	sftpBin, err := exec.LookPath("sftp")
	if err != nil {
		if os.Getenv("PIER_TEST_REQUIRE") == "1" {
			b.Fatal("OpenSSH sftp is not installed: scripts/test installs it")
		}
		b.Skip("OpenSSH sftp is not installed")
	}
	e := startBench(b)
	ctx := context.Background()
	src, sum := benchBigFile(b)
	ph := benchPhases{minio: procstat.FindMinIO(e.s3.Endpoint)}
	for b.Loop() {
		// pier through pkg/sftp.
		c := e.client(b)
		ph.run(b, "sftp-put", bigSize, e.storeReqs, func() {
			f, err := c.Create("/acme/staff/bench-sftp.bin")
			if err != nil {
				b.Fatal(err)
			}
			in := benchOpen(b, src)
			defer in.Close()
			if n, err := f.ReadFrom(in); err != nil || n != bigSize {
				b.Fatalf("sftp put: %d bytes, %v", n, err)
			}
			if err := f.Close(); err != nil {
				b.Fatalf("sftp put close: %v", err)
			}
		})
		if e2, err := e.store.Stat(ctx, vpath.MustParse("/acme/staff/bench-sftp.bin")); err != nil || e2.SHA256 != hexs(sum[:]) {
			b.Fatalf("catalog entry after sftp put: %+v %v", e2, err)
		}
		ph.run(b, "sftp-get", bigSize, e.storeReqs, func() {
			f, err := c.Open("/acme/staff/bench-sftp.bin")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			h := sha256.New()
			if n, err := f.WriteTo(h); err != nil || n != bigSize {
				b.Fatalf("sftp get: %d bytes, %v", n, err)
			}
			checkSHA256(b, "sftp get", h.Sum(nil), sum)
		})

		// The same bytes straight to MinIO: the ceiling.
		key := e.s3.Prefix + "direct/big.bin"
		ph.run(b, "direct-put", bigSize, e.directReqs, func() {
			in := benchOpen(b, src)
			defer in.Close()
			if _, err := e.direct.PutObject(ctx, e.s3.Bucket, key, in, bigSize, e.putOpts); err != nil {
				b.Fatal(err)
			}
		})
		ph.run(b, "direct-get", bigSize, e.directReqs, func() {
			obj, err := e.direct.GetObject(ctx, e.s3.Bucket, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer obj.Close()
			// Hashed like the SFTP download, so both pay the same.
			h := sha256.New()
			if n, err := io.CopyBuffer(h, obj, make([]byte, 1<<20)); err != nil || n != bigSize {
				b.Fatalf("direct get: %d bytes, %v", n, err)
			}
			checkSHA256(b, "direct get", h.Sum(nil), sum)
		})

		// OpenSSH's sftp against pier: the client most partners use.
		back := filepath.Join(filepath.Dir(src), "back.bin")
		ph.run(b, "openssh-put", bigSize, e.storeReqs, func() {
			e.opensshBatch(b, sftpBin, fmt.Sprintf("put %s /acme/staff/bench-openssh.bin", src))
		})
		if e2, err := e.store.Stat(ctx, vpath.MustParse("/acme/staff/bench-openssh.bin")); err != nil || e2.SHA256 != hexs(sum[:]) {
			b.Fatalf("catalog entry after openssh put: %+v %v", e2, err)
		}
		ph.run(b, "openssh-get", bigSize, e.storeReqs, func() {
			e.opensshBatch(b, sftpBin, fmt.Sprintf("get /acme/staff/bench-openssh.bin %s", back))
		})
		in := benchOpen(b, back)
		h := sha256.New()
		io.Copy(h, in)
		in.Close()
		os.Remove(back)
		checkSHA256(b, "openssh get", h.Sum(nil), sum)
	}
	ph.report(b)
	ratio := func(name, of, to string) { b.ReportMetric(ph.mbps(of)/ph.mbps(to), name) }
	ratio("put-ratio", "sftp-put", "direct-put")
	ratio("get-ratio", "sftp-get", "direct-get")
	ratio("openssh-put-ratio", "openssh-put", "direct-put")
	ratio("openssh-get-ratio", "openssh-get", "direct-get")
	b.Logf("ratios to direct: sftp put %.2f, get %.2f; openssh put %.2f, get %.2f",
		ph.mbps("sftp-put")/ph.mbps("direct-put"), ph.mbps("sftp-get")/ph.mbps("direct-get"),
		ph.mbps("openssh-put")/ph.mbps("direct-put"), ph.mbps("openssh-get")/ph.mbps("direct-get"))
}

// BenchmarkSFTPTransferSmallFiles uploads 1,000 files of 10 KiB over 8
// SFTP sessions (connected beforehand, as an MFT tool keeps them), and
// 1,000 direct PutObject calls from 8 goroutines, and reports files/s,
// the ratio, and the S3 requests pier's store made per file.
func BenchmarkSFTPTransferSmallFiles(b *testing.B) {
	e := startBench(b)
	ctx := context.Background()
	clients := make([]*sftp.Client, smallPar)
	for i := range clients {
		clients[i] = e.client(b)
	}
	if err := clients[0].Mkdir("/acme/staff/small"); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, smallSize)
	rand.NewChaCha8([32]byte{2}).Read(data)
	ph := benchPhases{minio: procstat.FindMinIO(e.s3.Endpoint)}
	round := 0
	for b.Loop() {
		round++
		ph.run(b, "sftp-small", smallN, e.storeReqs, func() {
			benchParallel(b, smallN, func(w, i int) error {
				f, err := clients[w].Create(fmt.Sprintf("/acme/staff/small/r%d-%04d.bin", round, i))
				if err != nil {
					return err
				}
				if _, err := f.Write(data); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			})
		})
		ph.run(b, "direct-small", smallN, e.directReqs, func() {
			benchParallel(b, smallN, func(_, i int) error {
				key := fmt.Sprintf("%sdirect-small/r%d-%04d.bin", e.s3.Prefix, round, i)
				_, err := e.direct.PutObject(ctx, e.s3.Bucket, key, bytes.NewReader(data), smallSize, e.putOpts)
				return err
			})
		})
	}
	b.ReportMetric(ph.perSec("sftp-small"), "sftp-files/s")
	b.ReportMetric(ph.perSec("direct-small"), "direct-files/s")
	b.ReportMetric(ph.perSec("sftp-small")/ph.perSec("direct-small"), "small-ratio")
	b.ReportMetric(ph.reqsPer("sftp-small"), "s3-reqs/sftp-file")
	b.ReportMetric(ph.reqsPer("direct-small"), "s3-reqs/direct-file")
	for _, name := range []string{"sftp-small", "direct-small"} {
		p := ph.get(name)
		b.Logf("%-12s %5.0f files/s %5.1f s  peak heap %3d MB, RSS %3d MB, allocated %5d MB  %s  S3 requests %v",
			name, ph.perSec(name), p.d.Seconds(), p.heap>>20, p.rss>>20, p.alloc>>20, p.cpu, p.reqs)
	}
}

// benchParallel runs job for 0..n-1 on smallPar workers and fails b on the
// first error.
func benchParallel(b *testing.B, n int, job func(worker, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, smallPar)
	for w := range smallPar {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := job(w, i); err != nil {
					errs <- fmt.Errorf("file %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// opensshBatch runs one sftp batch command as anna with key auth and
// aes128-gcm, the way partners' scripts do.
func (e *benchEnv) opensshBatch(b *testing.B, sftpBin, cmd string) {
	b.Helper()
	batch := filepath.Join(e.dir, "batch")
	if err := os.WriteFile(batch, []byte(cmd+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command(sftpBin, "-q", "-i", e.keyFile, "-o", "UserKnownHostsFile="+e.knownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "Ciphers=aes128-gcm@openssh.com", "-P", port, "-b", batch, "anna@127.0.0.1").CombinedOutput()
	if err != nil {
		b.Fatalf("sftp %q: %v\n%s", cmd, err, out)
	}
}

// benchBigFile writes 1 GiB of deterministic pseudo-random bytes (ChaCha8,
// fixed seed) to a temporary file, streaming, and returns its SHA-256.
func benchBigFile(b *testing.B) (string, [32]byte) {
	b.Helper()
	p := filepath.Join(benchScratchDir(b), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8([32]byte{1}), bigSize); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p, [32]byte(h.Sum(nil))
}

// benchScratchDir is a temporary directory for the 1 GiB files, in memory
// (/dev/shm) when possible: disk writeback of the local copies would
// otherwise compete with MinIO's own writes and blur the figures.
// PIER_BENCH_TMP chooses another place.
func benchScratchDir(b *testing.B) string {
	b.Helper()
	base := os.Getenv("PIER_BENCH_TMP")
	if base == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
	}
	if base == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(base, "pier-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func benchOpen(b *testing.B, p string) *os.File {
	b.Helper()
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func checkSHA256(b *testing.B, what string, got []byte, want [32]byte) {
	b.Helper()
	if !bytes.Equal(got, want[:]) {
		b.Fatalf("%s: SHA-256 %x, uploaded %x", what, got, want)
	}
}

// benchPhase is what one measured step took, summed over iterations.
type benchPhase struct {
	units int64 // bytes or files
	d     time.Duration
	reqs  map[string]int // S3 requests by kind
	heap  uint64         // peak HeapInuse
	rss   uint64         // peak VmRSS of the process
	cpu   cpuTimes       // CPU used during the phase
	alloc uint64         // bytes allocated by this process
}

type benchPhases struct {
	order []string
	m     map[string]*benchPhase
	minio int // PID of the MinIO server, 0 if unknown
}

func (ph *benchPhases) get(name string) *benchPhase {
	if ph.m == nil {
		ph.m = map[string]*benchPhase{}
	}
	p, ok := ph.m[name]
	if !ok {
		p = &benchPhase{reqs: map[string]int{}}
		ph.m[name] = p
		ph.order = append(ph.order, name)
	}
	return p
}

// run times f and samples memory while it runs. Dirty pages are written
// and memory is returned to the OS first, so neither the disk writes nor
// the RSS peak of an earlier phase count here. Heap and RSS include the
// in-process Go clients, except in the OpenSSH phases.
func (ph *benchPhases) run(b *testing.B, name string, units int64, reqs *reqCounter, f func()) {
	b.Helper()
	p := ph.get(name)
	syscall.Sync() // the previous phase's writeback, out of this one
	debug.FreeOSMemory()
	reqs.take()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			p.heap = max(p.heap, ms.HeapInuse)
			p.rss = max(p.rss, vmRSS())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	if dir := os.Getenv("PIER_BENCH_PROFILE_DIR"); dir != "" {
		file := name + ".cpu.pprof"
		if v := os.Getenv("PIER_BENCH_CONTENT_SHA256"); v != "" {
			file = name + ".sha256-" + v + ".cpu.pprof"
		}
		out, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			b.Fatal(err) // also when go test's -cpuprofile is on
		}
		defer pprof.StopCPUProfile()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := readCPU(ph.minio)
	start := time.Now()
	f()
	p.d += time.Since(start)
	p.cpu = p.cpu.add(readCPU(ph.minio).sub(cpu0))
	runtime.ReadMemStats(&ms1)
	p.alloc += ms1.TotalAlloc - ms0.TotalAlloc
	close(stop)
	<-sampled
	p.units += units
	for k, n := range reqs.take() {
		p.reqs[k] += n
	}
}

func (ph *benchPhases) mbps(name string) float64 {
	p := ph.get(name)
	return float64(p.units) / 1e6 / p.d.Seconds()
}

func (ph *benchPhases) perSec(name string) float64 {
	p := ph.get(name)
	return float64(p.units) / p.d.Seconds()
}

func (ph *benchPhases) reqsPer(name string) float64 {
	p := ph.get(name)
	total := 0
	for _, n := range p.reqs {
		total += n
	}
	return float64(total) / float64(p.units)
}

// report puts MB/s and peak memory of every phase into the benchmark
// result, and a readable line per phase into its log.
func (ph *benchPhases) report(b *testing.B) {
	for _, name := range ph.order {
		p := ph.get(name)
		b.ReportMetric(ph.mbps(name), name+"-MB/s")
		b.ReportMetric(float64(p.heap>>20), name+"-heap-MB")
		b.Logf("%-11s %5.0f MB/s %5.1f s  peak heap %3d MB, RSS %3d MB, allocated %5d MB  %s  S3 requests %v",
			name, ph.mbps(name), p.d.Seconds(), p.heap>>20, p.rss>>20, p.alloc>>20, p.cpu, p.reqs)
	}
}

// vmRSS is the resident set size of this process (Linux), or 0.
func vmRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// reqCounter is an http.RoundTripper that counts S3 requests by kind.
type reqCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func newReqCounter(b *testing.B, secure bool) *reqCounter {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		b.Fatal(err)
	}
	return &reqCounter{next: tr, n: map[string]int{}}
}

func (c *reqCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[s3Kind(r)]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the counts so far and starts again from zero.
func (c *reqCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// s3Kind names an S3 request: the method, and for multipart uploads and
// listings what the query says.
func s3Kind(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("uploads"):
		return r.Method + "-initiate"
	case q.Has("partNumber"):
		return r.Method + "-part"
	case q.Has("uploadId") && r.Method == http.MethodPost:
		return "POST-complete"
	case q.Has("uploadId"):
		return r.Method + "-upload"
	case q.Has("list-type") || q.Has("prefix"):
		return "LIST"
	case q.Has("location"):
		return "GET-location"
	}
	return r.Method
}

// cpuTimes is CPU time (user+system) of this process (server and Go
// clients), of its waited-for children (OpenSSH's sftp and ssh) and of
// the MinIO server.
type cpuTimes struct{ self, children, minio time.Duration }

func (c cpuTimes) add(d cpuTimes) cpuTimes {
	return cpuTimes{c.self + d.self, c.children + d.children, c.minio + d.minio}
}

func (c cpuTimes) sub(d cpuTimes) cpuTimes {
	return cpuTimes{c.self - d.self, c.children - d.children, c.minio - d.minio}
}

func (c cpuTimes) String() string {
	return fmt.Sprintf("CPU s: test process %.1f, ssh client %.1f, MinIO %.1f",
		c.self.Seconds(), c.children.Seconds(), c.minio.Seconds())
}

func readCPU(minio int) cpuTimes {
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	var c cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = tv(ru.Utime) + tv(ru.Stime)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		c.children = tv(ru.Utime) + tv(ru.Stime)
	}
	if minio > 0 {
		c.minio = procstat.CPU(minio, false)
	}
	return c
}
