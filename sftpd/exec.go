package sftpd

import (
	"context"
	"crypto/md5"  // #nosec G501 -- MD5 of files for the clients that ask (md5sum, oc:checksums), not security
	"crypto/sha1" // #nosec G505 -- SHA-1 of files for the clients that ask (sha1sum, oc:checksums), not security
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"golang.org/x/crypto/ssh"

	"pier/authfs"
	"pier/internal/untrusted"
	"pier/storage"
	"pier/vpath"
)

// pier runs no shell and no program. An exec request (`ssh host cmd`,
// legacy `scp -O`) or a shell gets one line on the channel's standard
// error saying so, then exit status 1, so the client shows why instead of
// a bare "failure". The one exception are the hash commands sync tools
// run to compare files without downloading them (rclone over SFTP):
// `md5sum`, `sha1sum` and `sha256sum` with one path, answered from the
// catalog through the authorising file system — for files the user may
// read, and their own recent uploads (rclone checks each delivery so) —
// as coreutils would print them.

const sftpOnly = "pier: this server speaks SFTP only (use sftp, scp, rclone, WinSCP or another SFTP client); " +
	"of commands it answers only md5sum, sha1sum and sha256sum FILE\n"

// maxHashStdin bounds what a hash command without a path reads from
// standard input (rclone checks the command on empty input).
const maxHashStdin = 1 << 20

// hashCommand is a parsed md5sum, sha1sum or sha256sum command line.
type hashCommand struct {
	name    string // md5sum, sha1sum or sha256sum
	path    string // as the client wrote it (unquoted); "" for stdin
	hasPath bool
}

var hashers = map[string]func() hash.Hash{"md5sum": md5.New, "sha1sum": sha1.New, "sha256sum": sha256.New}

// parseHashCommand accepts `NAME`, `NAME PATH` and `NAME -- PATH`, the
// path quoted as a POSIX shell would read it: single quotes, double
// quotes (with \" \\ \$ \` escapes) and backslash escapes outside them.
// Anything a shell would expand or interpret (unquoted $ ` ; | & < > ( )
// * ? [ ] { } ~ # !, or $ and ` inside double quotes) is refused: no
// shell runs, and none must be imagined.
func parseHashCommand(cmd string) (hashCommand, error) {
	words, err := shellWords(cmd)
	if err != nil {
		return hashCommand{}, err
	}
	if len(words) == 0 || hashers[words[0]] == nil {
		return hashCommand{}, errNotCommand
	}
	c := hashCommand{name: words[0]}
	args := words[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		return hashCommand{}, fmt.Errorf("%s: options are not supported", c.name)
	}
	switch len(args) {
	case 0:
	case 1:
		c.path, c.hasPath = args[0], args[0] != "-"
	default:
		return hashCommand{}, fmt.Errorf("%s: one file at a time", c.name)
	}
	return c, nil
}

var errNotCommand = errors.New("not a command pier answers")

// shellWords splits a command line into words the way a POSIX shell
// would for a simple command without expansions.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
			continue
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("command ends in a backslash")
			}
			i++
			if s[i] != '\n' { // a backslash-newline joins lines
				w.WriteByte(s[i])
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '$', '`':
					return nil, errors.New("expansions are not supported")
				case '\\':
					if i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
						i++
						if s[i] == '\n' {
							continue
						}
					}
				}
				w.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New("unterminated double quote")
			}
		case strings.IndexByte("$`;|&<>()*?[]{}~#!=\n\r", c) >= 0:
			return nil, fmt.Errorf("the shell syntax %q is not supported", c)
		default:
			w.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// exec answers an exec request (or a shell, with cmd "") and returns the
// exit status to send.
func (s *Server) exec(ctx context.Context, sess *authfs.Session, ch ssh.Channel, cmd string) uint32 {
	log := s.log.With("user", sess.Login())
	c, err := parseHashCommand(cmd)
	if errors.Is(err, errNotCommand) || cmd == "" {
		log.Info("ssh command refused: SFTP only", "command", untrusted.Clip(cmd, 200))
		io.WriteString(ch.Stderr(), sftpOnly)
		return 1
	}
	if err != nil {
		io.WriteString(ch.Stderr(), "pier: "+err.Error()+"\n")
		return 1
	}
	if !c.hasPath {
		h := hashers[c.name]()
		n, err := io.Copy(h, io.LimitReader(ch, maxHashStdin+1))
		if err != nil || n > maxHashStdin {
			io.WriteString(ch.Stderr(), fmt.Sprintf("pier: %s reads at most %d bytes of standard input\n", c.name, maxHashStdin))
			return 1
		}
		fmt.Fprintf(ch, "%s  -\n", hex.EncodeToString(h.Sum(nil)))
		return 0
	}
	sum, err := s.fileSum(ctx, sess, c)
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "%s: %s: %s\n", c.name, c.path, hashError(log, c, err))
		return 1
	}
	io.WriteString(ch, sumLine(sum, c.path))
	return 0
}

// fileSum returns the hash the command asks for, of a file the user may read.
func (s *Server) fileSum(ctx context.Context, sess *authfs.Session, c hashCommand) (string, error) {
	p, err := vpath.Resolve(vpath.Root(), c.path)
	if err != nil {
		return "", err
	}
	// SHA-256 is always recorded; the others may be computed now.
	e, err := sess.Sums(ctx, p, c.name != "sha256sum")
	if err != nil {
		return "", err
	}
	switch c.name {
	case "md5sum":
		return e.MD5, nil
	case "sha1sum":
		return e.SHA1, nil
	}
	return e.SHA256, nil
}

// hashError says what went wrong as coreutils would, without detail.
func hashError(log *slog.Logger, c hashCommand, err error) string {
	var pe *vpath.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	case errors.Is(err, storage.ErrIsDir):
		return "Is a directory"
	case errors.As(err, &pe):
		return pe.Error()
	}
	log.Error("ssh hash command failed", "command", c.name, "err", err)
	return "internal error, logged on the server"
}

// sumLine is a checksum line as coreutils writes it: a name holding a
// backslash or a line break is escaped, and the line then starts with a
// backslash (rclone strips it).
func sumLine(sum, name string) string {
	if !strings.ContainsAny(name, "\\\n\r") {
		return sum + "  " + name + "\n"
	}
	r := strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r")
	return "\\" + sum + "  " + r.Replace(name) + "\n"
}
