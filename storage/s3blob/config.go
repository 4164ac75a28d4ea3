package s3blob

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"pier/membudget"
)

// Defaults and limits of the upload settings.
const (
	DefaultPartSize             = 16 << 20
	DefaultMaxConcurrentUploads = 16
	// DefaultTimeout is how long a request may make no progress.
	DefaultTimeout = 30 * time.Second
	minTimeout     = time.Second
	maxTimeout     = time.Hour
	// S3 refuses parts below 5 MiB (except the last) and above 5 GiB.
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// Config says where blobs live and how they are uploaded. The zero values
// of PartSize, MaxConcurrentUploads, ContentSHA256 and Timeout select
// defaults.
type Config struct {
	Endpoint  string // host[:port] of the S3 service, without scheme
	Region    string // empty: asked from the service once per bucket
	Bucket    string
	Prefix    string // key prefix inside the bucket; Open adds a final "/"
	AccessKey string
	SecretKey string

	TLS          bool
	PathStyle    bool // bucket in the path (MinIO) instead of the host name
	CreateBucket bool // create a missing bucket in Open

	// PartSize is the size of one multipart part. Every streaming upload
	// holds two parts in memory, and a blob has at most 10,000 parts
	// (156 GiB with the 16 MiB default).
	PartSize int64
	// MaxConcurrentUploads bounds streaming uploads, and so their memory
	// (2 × PartSize each); further uploads wait for a slot.
	MaxConcurrentUploads int
	// ContentSHA256 is "auto" (or empty), "on" or "off": whether uploads
	// over plain HTTP sign a SHA-256 of their payload. Only "on" does
	// (auto and off send it unsigned): the signature makes an upload cost
	// about twice the CPU, and protects only against someone who can
	// change bytes on the wire — use TLS where the network is not trusted.
	ContentSHA256 string
	// Checksum is "crc32c" (or empty) or "off": whether every PUT carries
	// the CRC32C of its bytes (x-amz-checksum-crc32c), which the service
	// checks, so bytes damaged in transit are refused. Turn it off only
	// for an S3 service that refuses those headers.
	Checksum string
	// Observe, if set, is told of every request to the service: what it
	// was (PUT, PUT-part, GET, ...), how long its answer took, and
	// whether it failed (an error or a 5xx answer).
	Observe func(op string, d time.Duration, failed bool)

	// Budget bounds the memory of the store's buffers, shared with the
	// node's other transfers; nil gives the store a budget of its own of
	// 2 × PartSize × MaxConcurrentUploads.
	Budget *membudget.Budget

	// Timeout bounds every wait on the service: connecting, the TLS
	// handshake, the answer to a request, and each stretch of a transfer
	// in which no byte moves. A service that stops answering (a hung
	// node keeps its TCP connections open) thus fails the operation with
	// storage.ErrUnavailable after Timeout instead of hanging it, while a
	// long transfer that keeps moving is never cut. Bytes the kernel has
	// accepted count as sent, so Timeout must exceed the time the link
	// needs to drain a socket buffer of a few MiB: the 30s default allows
	// links down to about 200 KB/s. Between 1s and 1h.
	Timeout time.Duration

	// Transport replaces the HTTP transport when set (custom CAs, tests
	// that count requests). It must bound its waits itself: build it
	// from NewTransport to keep Timeout.
	Transport http.RoundTripper
}

// Validate reports the first missing or malformed field.
func (c Config) Validate() error {
	if err := checkEndpoint(c.Endpoint); err != nil {
		return err
	}
	if c.Bucket == "" {
		return errors.New("s3 bucket is missing")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return fmt.Errorf("s3 bucket %q: %v", c.Bucket, err)
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return err
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("s3 credentials are missing: set PIER_S3_ACCESS_KEY and PIER_S3_SECRET_KEY " +
			"(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	if c.PartSize != 0 && (c.PartSize < minPartSize || c.PartSize > maxPartSize) {
		return fmt.Errorf("s3 part size %d: want between 5 MiB and 5 GiB", c.PartSize)
	}
	if c.MaxConcurrentUploads < 0 {
		return fmt.Errorf("s3 max concurrent uploads %d: want 0 (default) or more", c.MaxConcurrentUploads)
	}
	switch c.ContentSHA256 {
	case "", "auto", "on", "off":
	default:
		return fmt.Errorf("s3 content-sha256 %q: want auto, on or off", c.ContentSHA256)
	}
	switch c.Checksum {
	case "", "crc32c", "off":
	default:
		return fmt.Errorf("s3 checksum %q: want crc32c or off", c.Checksum)
	}
	if c.Timeout != 0 && (c.Timeout < minTimeout || c.Timeout > maxTimeout) {
		return fmt.Errorf("s3 timeout %v: want between %v and %v", c.Timeout, minTimeout, maxTimeout)
	}
	return nil
}

// checkEndpoint refuses what minio-go would refuse when Open creates the
// client (it names hosts that are neither an IP address nor a domain
// name), so a wrong endpoint fails with the configuration, not at start.
func checkEndpoint(e string) error {
	if e == "" {
		return errors.New("s3 endpoint is missing")
	}
	bad := func(why string) error { return fmt.Errorf("s3 endpoint %q: %s", e, why) }
	if strings.ContainsAny(e, "/@?#%\\") || strings.ContainsFunc(e, unicode.IsSpace) {
		return bad("want host[:port] without scheme or path")
	}
	u, err := url.Parse("http://" + e)
	if err != nil {
		return bad("want host[:port]")
	}
	if host := u.Hostname(); !s3utils.IsValidIP(host) && !s3utils.IsValidDomain(host) {
		return bad("the host is neither an IP address nor a domain name")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("the port must be between 1 and 65535")
		}
	} else if strings.HasSuffix(e, ":") {
		return bad("the port is empty")
	}
	// minio-go's rules for the big providers' endpoints.
	switch host := u.Hostname(); {
	case strings.Contains(host, ".s3.amazonaws.com") && !s3utils.IsAmazonEndpoint(*u):
		return bad("an Amazon S3 endpoint must be s3.amazonaws.com or a regional one")
	case strings.Contains(host, ".googleapis.com") && !s3utils.IsGoogleEndpoint(*u):
		return bad("a Google Cloud Storage endpoint must be storage.googleapis.com")
	case strings.Contains(host, "s3-outposts") && !s3utils.IsAmazonOutpostsEndpoint(*u):
		return bad("an S3 Outposts endpoint must match PREFIX.s3-outposts.REGION.amazonaws.com")
	}
	return nil
}

// checkPrefix refuses prefixes whose keys S3 services treat differently
// ("a//b", "./", a leading "/") or that look like path tricks.
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return fmt.Errorf("s3 prefix %q: no leading slash or backslash allowed", p)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("s3 prefix %q: empty, \".\" and \"..\" segments are not allowed", p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("s3 prefix %q: control characters are not allowed", p)
		}
	}
	return nil
}

// urlParams maps the query parameters ParseURL knows to their setters.
var urlParams = map[string]func(*Config, string) error{
	"region":        func(c *Config, v string) error { c.Region = v; return nil },
	"tls":           func(c *Config, v string) error { return parseBool("tls", v, &c.TLS) },
	"path-style":    func(c *Config, v string) error { return parseBool("path-style", v, &c.PathStyle) },
	"create-bucket": func(c *Config, v string) error { return parseBool("create-bucket", v, &c.CreateBucket) },
	"part-size": func(c *Config, v string) (err error) {
		c.PartSize, err = parseSize("part-size", v)
		return err
	},
	"max-uploads": func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("max-uploads %q: want a positive number", v)
		}
		c.MaxConcurrentUploads = n
		return nil
	},
	"content-sha256": func(c *Config, v string) error { c.ContentSHA256 = v; return nil },
	"checksum":       func(c *Config, v string) error { c.Checksum = v; return nil },
	"timeout": func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("timeout %q: want a duration such as 30s", v)
		}
		c.Timeout = d
		return nil
	},
}

// ParseURL reads a Config from
//
//	s3://ENDPOINT/BUCKET[/PREFIX]?region=R&tls=true&path-style=true&create-bucket=false&part-size=16MiB&max-uploads=16&content-sha256=auto&checksum=crc32c&timeout=30s
//
// TLS and path-style default to true. Credentials come from getenv:
// PIER_S3_ACCESS_KEY and PIER_S3_SECRET_KEY, else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY. Credentials in the URL are refused because URLs
// end up in logs and process listings; errors never repeat the URL.
func ParseURL(raw string, getenv func(string) string) (Config, error) {
	c := Config{TLS: true, PathStyle: true}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.Error() would quote the whole URL
		}
		return Config{}, fmt.Errorf("s3 URL: %v", err)
	}
	switch {
	case u.User != nil:
		return Config{}, errors.New("s3 URL: credentials in the URL are refused (they leak into logs); " +
			"set PIER_S3_ACCESS_KEY and PIER_S3_SECRET_KEY")
	case u.Scheme != "s3":
		return Config{}, fmt.Errorf("s3 URL: scheme %q: want s3://ENDPOINT/BUCKET[/PREFIX]", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return Config{}, errors.New("s3 URL: endpoint is missing: want s3://ENDPOINT/BUCKET[/PREFIX]")
	case u.Fragment != "":
		return Config{}, errors.New("s3 URL: a #fragment is not allowed")
	}
	c.Endpoint = u.Host
	c.Bucket, c.Prefix, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if err := applyQuery(&c, u.RawQuery); err != nil {
		return Config{}, fmt.Errorf("s3 URL: %w", err)
	}
	c.AccessKey, c.SecretKey = getenv("PIER_S3_ACCESS_KEY"), getenv("PIER_S3_SECRET_KEY")
	if c.AccessKey == "" && c.SecretKey == "" {
		// Take both keys from one source so keys of two accounts never mix.
		c.AccessKey, c.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// URL renders c as the storage URL that ParseURL reads back to c, but for
// the credentials, which never go in a URL: for logs and messages.
// Options at their default values are left out.
func (c Config) URL() string {
	q := url.Values{}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if !c.TLS {
		q.Set("tls", "false")
	}
	if !c.PathStyle {
		q.Set("path-style", "false")
	}
	if c.CreateBucket {
		q.Set("create-bucket", "true")
	}
	if c.PartSize != 0 {
		q.Set("part-size", formatSize(c.PartSize))
	}
	if c.MaxConcurrentUploads != 0 {
		q.Set("max-uploads", strconv.Itoa(c.MaxConcurrentUploads))
	}
	if c.Checksum != "" {
		q.Set("checksum", c.Checksum)
	}
	if c.ContentSHA256 != "" {
		q.Set("content-sha256", c.ContentSHA256)
	}
	if c.Timeout != 0 {
		q.Set("timeout", c.Timeout.String())
	}
	u := url.URL{Scheme: "s3", Host: c.Endpoint, Path: "/" + c.Bucket, RawQuery: q.Encode()}
	if c.Prefix != "" {
		u.Path += "/" + c.Prefix
	}
	return u.String()
}

// formatSize writes n in the largest unit parseSize reads that divides it.
func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

func applyQuery(c *Config, rawQuery string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("query: %v", err)
	}
	for name, vals := range q {
		set, ok := urlParams[name]
		if !ok {
			return fmt.Errorf("unknown parameter %q (known: region, tls, path-style, create-bucket, "+
				"part-size, max-uploads, content-sha256, checksum, timeout)", name)
		}
		if len(vals) != 1 {
			return fmt.Errorf("parameter %q given %d times", name, len(vals))
		}
		if err := set(c, vals[0]); err != nil {
			return err
		}
	}
	return nil
}

func parseBool(name, v string, dst *bool) error {
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fmt.Errorf("%s %q: want true or false", name, v)
	}
	return nil
}

// parseSize reads a byte count such as "16777216", "16MiB" or "1GiB".
func parseSize(name, v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > maxPartSize/mult {
		return 0, fmt.Errorf("%s %q: want a size such as 16MiB (units B, KiB, MiB, GiB) up to 5GiB", name, v)
	}
	return n * mult, nil
}
