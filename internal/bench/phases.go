package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"pier/internal/procstat"
)

// sample is what one run of a phase measured.
type sample struct {
	units  float64 // bytes, files or entries moved
	secs   float64
	server time.Duration // CPU of pier (or sshd)
	minio  time.Duration
	client time.Duration // CPU of this process and the client programs it ran
	peak   uint64        // the server's peak RSS during the phase
	extra  map[string]float64
}

// measure runs fn as one phase: CPU of the server (pid, with its reaped
// children for sshd), of MinIO and of the clients, and the server's peak
// RSS.
func (b *bench) measure(pid int, children bool, units float64, fn func() error) (sample, error) {
	if pid > 0 {
		resetPeak(pid)
	}
	s0, m0, c0 := procstat.CPU(pid, children), procstat.CPU(b.minio, false), selfCPU()
	start := time.Now()
	err := fn()
	secs := time.Since(start).Seconds()
	if children {
		// sshd's session processes count once they have exited and been
		// reaped: wait until the sum stops growing.
		last := procstat.CPU(pid, true)
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			now := procstat.CPU(pid, true)
			if now == last && now > s0 {
				break
			}
			last = now
		}
	}
	s := sample{units: units, secs: secs, extra: map[string]float64{}}
	if pid > 0 {
		s.server = procstat.CPU(pid, children) - s0
		_, s.peak = procMem(pid)
	}
	s.minio = procstat.CPU(b.minio, false) - m0
	s.client = selfCPU() - c0
	return s, err
}

// profiled runs a phase of a pier node under a CPU profile of that node
// when -profile is set and the node serves /debug/pprof.
func (b *bench) profiled(n *pierNode, phase string, fn func() error) error {
	if b.profileDir == "" || n == nil || !n.pprof {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", n.adminURL, b.profileSecs)
		resp, err := http.Get(url)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(b.profileDir, phase+".cpu.pprof"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		f.Close()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the profile has started
	err := fn()
	if perr := <-done; perr != nil {
		fmt.Fprintf(os.Stderr, "bench: profile of %s: %v\n", phase, perr)
	}
	return err
}

// opensshArgs are the OpenSSH sftp options of every run: key login, no
// host key checks (throwaway hosts), batch mode.
func (b *bench) opensshArgs(port int, ciphers string) []string {
	args := []string{"-q", "-i", b.key, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR", "-P", strconv.Itoa(port)}
	if ciphers != "" {
		args = append(args, "-o", "Ciphers="+ciphers)
	}
	return args
}

// sftpBatch runs one OpenSSH sftp batch command.
func (b *bench) sftpBatch(port int, user, ciphers, cmd string) error {
	batch := filepath.Join(b.work, "batch")
	if err := os.WriteFile(batch, []byte(cmd+"\n"), 0o600); err != nil {
		return err
	}
	args := append(b.opensshArgs(port, ciphers), "-b", batch, user+"@127.0.0.1")
	out, err := exec.CommandContext(b.ctx, "sftp", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sftp %q: %v: %s", cmd, err, out)
	}
	return nil
}

// gcm is the cipher of the SFTP transfers (the figures).
const gcm = "aes128-gcm@openssh.com"

// curl moves the big file with curl as the bench user: a PUT of it to
// url, or a GET of url into nothing.
func (b *bench) curl(name, url string, put bool) error {
	args := []string{"-sS", "-f", "-u", benchUser + ":" + b.password, "-o", "/dev/null"}
	if strings.HasPrefix(url, "https") {
		args = append(args, "-k")
	}
	if put {
		args = append(args, "-T", b.big)
	}
	args = append(args, url)
	out, err := exec.CommandContext(b.ctx, "curl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", name, err, out)
	}
	return nil
}

// transferPhases are the 1 GiB transfers: pier over SFTP (OpenSSH's
// client with aes128-gcm and with its defaults) and WebDAV (curl), the
// SFTP layer alone against OpenSSH's internal-sftp, and direct minio-go.
func (b *bench) transferPhases() []phase {
	ctx := b.ctx
	size := float64(b.size)
	key := b.s3.Prefix + "bench-direct/big.bin"
	back := filepath.Join(b.work, "back.bin")
	pierSFTP := func(name string, n func() *pierNode, ciphers string, put bool) phase {
		return phase{name, func() (sample, error) {
			node := n()
			remote := "/acme/bench/" + name + ".bin"
			if !put {
				remote = "/acme/bench/sftp-put.bin"
				if node == b.disk {
					remote = "/acme/bench/layer-put.bin"
				}
			}
			cmd := fmt.Sprintf("put %s %s", b.big, remote)
			if !put {
				cmd = fmt.Sprintf("get %s %s", remote, back)
			}
			defer os.Remove(back)
			var s sample
			err := b.profiled(node, name, func() (err error) {
				s, err = b.measure(node.pid(), false, size, func() error { return b.sftpBatch(node.sftpPort, benchUser, ciphers, cmd) })
				return err
			})
			return s, err
		}}
	}
	dav := func(name string, n func() *pierNode, put bool) phase {
		return phase{name, func() (sample, error) {
			node := n()
			var s sample
			err := b.profiled(node, name, func() (err error) {
				s, err = b.measure(node.pid(), false, size, func() error {
					return b.curl(name, node.davURL+"/acme/bench/dav-put.bin", put)
				})
				return err
			})
			return s, err
		}}
	}
	osftp := func(name string, put bool) phase {
		return phase{name, func() (sample, error) {
			if b.sshd == nil {
				return sample{}, errSkip("sshd is not available")
			}
			remote := filepath.Join(b.sshd.dir, "put.bin")
			cmd := fmt.Sprintf("put %s %s", b.big, remote)
			if !put {
				cmd = fmt.Sprintf("get %s %s", remote, back)
			}
			defer os.Remove(back)
			user := os.Getenv("USER")
			if user == "" {
				user = "root"
			}
			return b.measure(b.sshd.pid(), true, size, func() error { return b.sftpBatch(b.sshd.port, user, gcm, cmd) })
		}}
	}
	return []phase{
		{"direct-put", func() (sample, error) {
			return b.measure(0, false, size, func() error {
				in, err := os.Open(b.big)
				if err != nil {
					return err
				}
				defer in.Close()
				_, err = b.direct.PutObject(ctx, b.s3.Bucket, key, in, b.size, minio.PutObjectOptions{
					ContentType: "application/octet-stream", DisableContentSha256: true})
				return err
			})
		}},
		{"direct-get", func() (sample, error) {
			return b.measure(0, false, size, func() error {
				obj, err := b.direct.GetObject(ctx, b.s3.Bucket, key, minio.GetObjectOptions{})
				if err != nil {
					return err
				}
				defer obj.Close()
				n, err := io.CopyBuffer(io.Discard, obj, make([]byte, 1<<20))
				if err == nil && n != b.size {
					err = fmt.Errorf("direct get: %d bytes", n)
				}
				return err
			})
		}},
		pierSFTP("sftp-put", func() *pierNode { return b.s3n }, gcm, true),
		pierSFTP("sftp-get", func() *pierNode { return b.s3n }, gcm, false),
		pierSFTP("sftp-put-default", func() *pierNode { return b.s3n }, "", true),
		pierSFTP("sftp-get-default", func() *pierNode { return b.s3n }, "", false),
		pierSFTP("layer-put", func() *pierNode { return b.disk }, gcm, true),
		pierSFTP("layer-get", func() *pierNode { return b.disk }, gcm, false),
		osftp("osftp-put", true),
		osftp("osftp-get", false),
		dav("dav-put", func() *pierNode { return b.s3n }, true),
		dav("dav-get", func() *pierNode { return b.s3n }, false),
		dav("dav-put-tls", func() *pierNode { return b.tls }, true),
		dav("dav-get-tls", func() *pierNode { return b.tls }, false),
	}
}

// goClient logs in to a pier node with the bench key over aes128-gcm and
// opens an SFTP session with 64 requests in flight per file.
func (b *bench) goClient(port int) (*sftp.Client, func(), error) {
	conn, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &ssh.ClientConfig{User: benchUser,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(b.signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout: 30 * time.Second, Config: ssh.Config{Ciphers: []string{ssh.CipherAES128GCM}}})
	if err != nil {
		return nil, nil, err
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); conn.Close() }, nil
}

// parallel runs job(worker, i) for i in [0, n) on workers goroutines and
// returns the first error.
func parallel(workers, n int, job func(w, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := job(w, i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// target is a server the small-file and burst phases run against: a
// pier node, or the peer server of -peer.
type target struct {
	pid  int
	port int       // SFTP
	root string    // the folder the bench user's files go under
	node *pierNode // nil for the peer: no metrics, profiles or admin commands
}

func (b *bench) pierTarget() target {
	return target{pid: b.s3n.pid(), port: b.s3n.sftpPort, root: "/acme", node: b.s3n}
}

// smallPhases upload 1,000 files of 10 KiB over 8 SFTP sessions to pier
// (and to the peer), and the same with 8 goroutines calling PutObject
// directly.
func (b *bench) smallPhases() []phase {
	const n, par, size = 1000, 8, 10 << 10
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{2}).Read(data)
	small := func(name string, t func() (target, error)) phase {
		round := 0
		return phase{name, func() (sample, error) {
			round++
			t, err := t()
			if err != nil {
				return sample{}, err
			}
			clients := make([]*sftp.Client, par)
			for i := range clients {
				c, done, err := b.goClient(t.port)
				if err != nil {
					return sample{}, err
				}
				defer done()
				clients[i] = c
			}
			dir := fmt.Sprintf("%s/%s-%d", t.root, name, round)
			if err := clients[0].Mkdir(dir); err != nil {
				return sample{}, err
			}
			reqs0, retries0 := -1.0, -1.0
			if t.node != nil {
				reqs0 = b.metric(t.node, "pier_storage_requests_total")
				retries0 = b.metric(t.node, "pier_catalog_tx_retries_total")
			}
			var s sample
			err = b.profiled(t.node, name, func() (err error) {
				s, err = b.measure(t.pid, false, n, func() error {
					return parallel(par, n, func(w, i int) error {
						f, err := clients[w].Create(fmt.Sprintf("%s/f%04d.bin", dir, i))
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
				return err
			})
			if reqs0 >= 0 {
				s.extra["s3-requests-per-file"] = (b.metric(t.node, "pier_storage_requests_total") - reqs0) / n
				s.extra["tx-retries-per-file"] = (b.metric(t.node, "pier_catalog_tx_retries_total") - retries0) / n
			}
			return s, err
		}}
	}
	round := 0
	return []phase{
		{"small-direct", func() (sample, error) {
			round++
			return b.measure(0, false, n, func() error {
				return parallel(par, n, func(_, i int) error {
					key := fmt.Sprintf("%sbench-small/r%d-%04d.bin", b.s3.Prefix, round, i)
					_, err := b.direct.PutObject(b.ctx, b.s3.Bucket, key, bytes.NewReader(data), size,
						minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true})
					return err
				})
			})
		}},
		small("small-sftp", func() (target, error) { return b.pierTarget(), nil }),
		small("small-peer", b.peerTarget),
	}
}

// burstTimeout ends a burst that does not finish: a server that
// deadlocked must not hang the bench.
const burstTimeout = 10 * time.Minute

// burstPhase uploads n files of 64 MiB at once, each over its own SSH
// connection (connected 16 at a time beforehand), and reports how many
// completed, the node's peak RSS and its RSS a while after the burst.
func (b *bench) burstPhase(name string, n int, t func() (target, error)) phase {
	const size = 64 << 20
	return phase{name, func() (sample, error) {
		t, err := t()
		if err != nil {
			return sample{}, err
		}
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{3}).Read(data)
		node := t.node
		dir := t.root + "/" + name
		if err := b.sftpDo(t.port, func(c *sftp.Client) error { return c.Mkdir(dir) }); err != nil {
			return sample{}, err
		}
		defer func() {
			b.sftpDo(t.port, func(c *sftp.Client) error { return c.RemoveAll(dir) })
			if node != nil {
				node.run(b.ctx, "", "gc", "--garbage-age", "0s")
			}
		}()
		resetPeak(t.pid)
		clients := make([]*sftp.Client, n)
		closers := make([]func(), n)
		defer func() {
			for _, done := range closers {
				if done != nil {
					done()
				}
			}
		}()
		var mu sync.Mutex
		errs := map[string]int{}
		note := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			msg := err.Error()
			if len(msg) > 120 {
				msg = msg[:120]
			}
			errs[msg]++
		}
		parallel(16, n, func(_, i int) error {
			c, done, err := b.goClient(t.port)
			if err != nil {
				note(fmt.Errorf("connect: %w", err))
				return nil
			}
			clients[i], closers[i] = c, done
			return nil
		})
		var ok atomic.Int64
		if b.profileDir != "" && node != nil && node.pprof {
			// A heap profile in the middle of the burst: what holds memory.
			go func() {
				time.Sleep(4 * time.Second)
				resp, err := http.Get(node.adminURL + "/debug/pprof/heap")
				if err != nil {
					return
				}
				defer resp.Body.Close()
				if f, err := os.Create(filepath.Join(b.profileDir, name+".heap.pprof")); err == nil {
					io.Copy(f, resp.Body)
					f.Close()
				}
			}()
		}
		s, _ := b.measure(t.pid, false, float64(n)*size, func() error {
			var wg sync.WaitGroup
			for i, c := range clients {
				if c == nil {
					continue
				}
				wg.Go(func() {
					f, err := c.Create(fmt.Sprintf("%s/f%03d.bin", dir, i))
					if err != nil {
						note(err)
						return
					}
					if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
						f.Close()
						note(err)
						return
					}
					if err := f.Close(); err != nil {
						note(err)
						return
					}
					ok.Add(1)
				})
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-b.ctx.Done():
			case <-time.After(burstTimeout):
				b.note(name, fmt.Sprintf("not done after %v: connections closed", burstTimeout))
			}
			for _, c := range clients {
				if c != nil {
					c.Close()
				}
			}
			<-done
			return nil
		})
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		s.units = float64(ok.Load()) * size
		_, s.peak = procMem(t.pid)
		time.Sleep(15 * time.Second)
		rss, _ := procMem(t.pid)
		s.extra["completed"] = float64(ok.Load())
		s.extra["rss-after-15s-MiB"] = float64(rss >> 20)
		if len(errs) > 0 {
			var lines []string
			for msg, k := range errs {
				lines = append(lines, fmt.Sprintf("%d× %s", k, msg))
			}
			sort.Strings(lines)
			b.note(name, strings.Join(lines, "; "))
		}
		return s, nil
	}}
}

// sftpDo runs fn on an SFTP session of the bench user.
func (b *bench) sftpDo(port int, fn func(*sftp.Client) error) error {
	c, done, err := b.goClient(port)
	if err != nil {
		return err
	}
	defer done()
	return fn(c)
}

// metric sums a counter of the node's /metrics over all its labels, or
// returns -1 when the node has no such metric.
func (b *bench) metric(n *pierNode, name string) float64 {
	resp, err := http.Get(n.adminURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	body, _ := io.ReadAll(resp.Body)
	sum, found := 0.0, false
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

// insecureClient talks to a node's self-signed WebDAV.
var insecureClient = &http.Client{Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

type errSkip string

func (e errSkip) Error() string { return string(e) }

func isSkip(err error) bool {
	var s errSkip
	return errors.As(err, &s)
}

// ctxSleep waits d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
