package s3blob

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestReadFromWritesBodiesInPlace: a request body that writes itself goes
// to the connection whole and unchanged, and never beyond the length
// net/http limits it to; other bodies go through the send buffer.
func TestReadFromWritesBodiesInPlace(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB, several write chunks
	cases := []struct {
		name  string
		r     func() io.Reader
		limit int64
		want  int
		err   error
	}{
		{"whole", func() io.Reader { return io.NopCloser(bytes.NewReader(body)) }, int64(len(body)), len(body), nil},
		{"longer than its length", func() io.Reader { return io.NopCloser(bytes.NewReader(body)) }, 1000, 1000, errBodyTooLong},
		{"no WriterTo", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(body)} }, int64(len(body)), len(body), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, server := net.Pipe()
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(server); got <- b }()
			conn := &idleConn{Conn: client, timeout: 10 * time.Second, where: "test"}
			lr := &io.LimitedReader{R: c.r(), N: c.limit}
			n, err := conn.ReadFrom(lr)
			client.Close()
			b := <-got
			if n != int64(c.want) || !errors.Is(err, c.err) || !bytes.Equal(b, body[:c.want]) {
				t.Errorf("ReadFrom: %d bytes, %v, %d received; want %d, %v", n, err, len(b), c.want, c.err)
			}
			if lr.N != c.limit-int64(c.want) {
				t.Errorf("limit left %d; want %d", lr.N, c.limit-int64(c.want))
			}
		})
	}
}
