package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The peer is another file-transfer server measured in the same rounds
// as pier, against the same MinIO and with the same clients: the server
// the performance issue compares pier with. The bench neither builds nor
// configures it: -peer CMD is a shell command that starts it in the
// foreground (exec, so that its PID is the server's) from the settings
// in its environment:
//
//	PEER_DIR           an empty scratch directory
//	PEER_SFTP_PORT     SFTP on 127.0.0.1
//	PEER_DAV_PORT      WebDAV over plain HTTP on 127.0.0.1, the user's files at /
//	PEER_USER          the user to serve, its files at the SFTP root
//	PEER_PASSWORD      its password
//	PEER_PUBKEY        a file with its SSH public key (authorized_keys line)
//	PEER_S3_ENDPOINT   host:port of the MinIO pier uses
//	PEER_S3_TLS        true or false
//	PEER_S3_REGION, PEER_S3_BUCKET
//	PEER_S3_PREFIX     the key prefix its objects go under (ends in /)
//	PEER_S3_ACCESS_KEY, PEER_S3_SECRET_KEY
type peerServer struct {
	cmd      *exec.Cmd
	sftpPort int
	davURL   string
	log      *os.File
	keepLog  string
	exited   chan struct{} // closed when the command has exited
	server   int           // PID of the server: the command's, or the child it started
}

func (b *bench) startPeer(ctx context.Context, command string) (*peerServer, error) {
	dir := filepath.Join(b.work, "peer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sftpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	davPort, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.CreateTemp("", "pier-bench-peer-*.log")
	if err != nil {
		return nil, err
	}
	p := &peerServer{sftpPort: sftpPort, davURL: fmt.Sprintf("http://127.0.0.1:%d", davPort), log: log,
		keepLog: b.profileDir}
	p.cmd = exec.Command("sh", "-c", command)
	p.cmd.Env = append(os.Environ(),
		"PEER_DIR="+dir,
		"PEER_SFTP_PORT="+strconv.Itoa(sftpPort),
		"PEER_DAV_PORT="+strconv.Itoa(davPort),
		"PEER_USER="+benchUser,
		"PEER_PASSWORD="+b.password,
		"PEER_PUBKEY="+b.pub,
		"PEER_S3_ENDPOINT="+b.s3.Endpoint,
		"PEER_S3_TLS="+strconv.FormatBool(b.s3.TLS),
		"PEER_S3_REGION="+b.s3.Region,
		"PEER_S3_BUCKET="+b.s3.Bucket,
		"PEER_S3_PREFIX="+b.s3.Prefix+"peer/",
		"PEER_S3_ACCESS_KEY="+b.s3.AccessKey,
		"PEER_S3_SECRET_KEY="+b.s3.SecretKey,
	)
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("-peer: %w", err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", sftpPort), fmt.Sprintf("127.0.0.1:%d", davPort)} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-p.exited:
				return nil, fmt.Errorf("-peer exited before listening on %s: see %s", addr, log.Name())
			case <-ctx.Done():
				p.stop()
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.stop()
				return nil, fmt.Errorf("-peer did not listen on %s within a minute: see %s", addr, log.Name())
			}
		}
	}
	// The server is the command's process, or the one child of the
	// shells it ran: a shell that waits for the server counts no CPU.
	p.server = p.cmd.Process.Pid
	for range 8 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.server))
		if name := strings.TrimSpace(string(comm)); name != "sh" && name != "bash" && name != "dash" {
			return p, nil
		}
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p.server, p.server))
		f := strings.Fields(string(kids))
		if len(f) != 1 {
			break
		}
		p.server, _ = strconv.Atoi(f[0])
	}
	p.stop()
	return nil, errors.New("-peer: no single server process under the command (exec the server)")
}

func (p *peerServer) pid() int { return p.server }

func (p *peerServer) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	pgid := -p.cmd.Process.Pid // the command and all it started
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	p.log.Close()
	if p.keepLog != "" {
		exec.Command("cp", p.log.Name(), filepath.Join(p.keepLog, "peer.log")).Run()
	}
	os.Remove(p.log.Name())
}

// peerTarget is the peer for the small-file and burst phases, or a skip
// without -peer.
func (b *bench) peerTarget() (target, error) {
	if b.peer == nil {
		return target{}, errSkip("no -peer")
	}
	return target{pid: b.peer.pid(), port: b.peer.sftpPort, root: ""}, nil
}

// peerPhases move the big file to and from the peer as the pier phases
// do: OpenSSH's sftp with aes128-gcm, curl over plain HTTP.
func (b *bench) peerPhases() []phase {
	size := float64(b.size)
	back := filepath.Join(b.work, "back.bin")
	sftpPhase := func(name string, put bool) phase {
		return phase{name, func() (sample, error) {
			if b.peer == nil {
				return sample{}, errSkip("no -peer")
			}
			cmd := fmt.Sprintf("put %s /sftp-put.bin", b.big)
			if !put {
				cmd = fmt.Sprintf("get /sftp-put.bin %s", back)
			}
			defer os.Remove(back)
			return b.measure(b.peer.pid(), false, size, func() error {
				return b.sftpBatch(b.peer.sftpPort, benchUser, gcm, cmd)
			})
		}}
	}
	davPhase := func(name string, put bool) phase {
		return phase{name, func() (sample, error) {
			if b.peer == nil {
				return sample{}, errSkip("no -peer")
			}
			return b.measure(b.peer.pid(), false, size, func() error {
				return b.curl(name, b.peer.davURL+"/dav-put.bin", put)
			})
		}}
	}
	return []phase{
		sftpPhase("peer-sftp-put", true),
		sftpPhase("peer-sftp-get", false),
		davPhase("peer-dav-put", true),
		davPhase("peer-dav-get", false),
	}
}
