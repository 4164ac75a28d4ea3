package s3blob

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

var pierKeys = env("PIER_S3_ACCESS_KEY", "ak", "PIER_S3_SECRET_KEY", "sk")

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		env  func(string) string
		want Config // compared without Transport
	}{
		{"s3://127.0.0.1:9000/pier-test", pierKeys,
			Config{Endpoint: "127.0.0.1:9000", Bucket: "pier-test", AccessKey: "ak", SecretKey: "sk", TLS: true, PathStyle: true}},
		{"s3://minio.example.com/pier/a/b?region=eu-1&tls=false&path-style=false&create-bucket=true&part-size=32MiB&max-uploads=4&content-sha256=off&timeout=1m30s",
			pierKeys,
			Config{Endpoint: "minio.example.com", Region: "eu-1", Bucket: "pier", Prefix: "a/b/", AccessKey: "ak", SecretKey: "sk",
				CreateBucket: true, PartSize: 32 << 20, MaxConcurrentUploads: 4, ContentSHA256: "off", Timeout: 90 * time.Second}},
		{"s3://h/bkt/p/?part-size=5242880", pierKeys,
			Config{Endpoint: "h", Bucket: "bkt", Prefix: "p/", AccessKey: "ak", SecretKey: "sk", TLS: true, PathStyle: true, PartSize: 5 << 20}},
		{"s3://[::1]:9000/bkt?part-size=1GiB", env("AWS_ACCESS_KEY_ID", "aws-ak", "AWS_SECRET_ACCESS_KEY", "aws-sk"),
			Config{Endpoint: "[::1]:9000", Bucket: "bkt", AccessKey: "aws-ak", SecretKey: "aws-sk", TLS: true, PathStyle: true, PartSize: 1 << 30}},
		// PIER_ keys win, and are never mixed with AWS ones.
		{"s3://h/bkt", env("PIER_S3_ACCESS_KEY", "ak", "PIER_S3_SECRET_KEY", "sk", "AWS_ACCESS_KEY_ID", "x", "AWS_SECRET_ACCESS_KEY", "y"),
			Config{Endpoint: "h", Bucket: "bkt", AccessKey: "ak", SecretKey: "sk", TLS: true, PathStyle: true}},
	} {
		got, err := ParseURL(tc.url, tc.env)
		if err != nil {
			t.Errorf("ParseURL(%s): %v", tc.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURL(%s)\n got %+v\nwant %+v", tc.url, got, tc.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		url     string
		env     func(string) string
		wantErr string // a part of the error that names the field
	}{
		{"", pierKeys, "scheme"},
		{"http://h/bkt", pierKeys, `scheme "http"`},
		{"s3:bkt", pierKeys, "endpoint is missing"},
		{"s3:///bkt", pierKeys, "endpoint is missing"},
		{"s3://h", pierKeys, "bucket is missing"},
		{"s3://h/", pierKeys, "bucket is missing"},
		{"s3://h/B_ad", pierKeys, `bucket "B_ad"`},
		{"s3://h/bkt//x", pierKeys, "prefix"},
		{"s3://h/bkt/../x", pierKeys, "prefix"},
		{"s3://h/bkt/x\\y", pierKeys, "prefix"},
		{"s3://h/bkt/x%00y", pierKeys, "prefix"},
		{"s3://h/bkt#frag", pierKeys, "fragment"},
		{"s3://h:port/bkt", pierKeys, "invalid port"},
		{"s3://!0/bkt", pierKeys, "neither an IP address nor a domain name"},
		{"s3://h:99999/bkt", pierKeys, "port must be between 1 and 65535"},
		{"s3://h:/bkt", pierKeys, "port is empty"},
		{"s3://%41/bkt", pierKeys, "invalid URL escape"},
		{"s3://x.s3.amazonaws.com.evil/bkt", pierKeys, "Amazon S3 endpoint"},
		{"s3://h/bkt?tls=yes", pierKeys, `tls "yes"`},
		{"s3://h/bkt?path-style=1", pierKeys, `path-style "1"`},
		{"s3://h/bkt?create-bucket=", pierKeys, `create-bucket ""`},
		{"s3://h/bkt?part-size=16XB", pierKeys, `part-size "16XB"`},
		{"s3://h/bkt?part-size=-16MiB", pierKeys, `part-size "-16MiB"`},
		{"s3://h/bkt?part-size=1MiB", pierKeys, "part size 1048576"},
		{"s3://h/bkt?part-size=6GiB", pierKeys, `part-size "6GiB"`},
		{"s3://h/bkt?max-uploads=0", pierKeys, `max-uploads "0"`},
		{"s3://h/bkt?content-sha256=maybe", pierKeys, `content-sha256 "maybe"`},
		{"s3://h/bkt?timeout=30", pierKeys, `timeout "30"`},
		{"s3://h/bkt?timeout=-5s", pierKeys, `timeout "-5s"`},
		{"s3://h/bkt?timeout=0s", pierKeys, `timeout "0s"`},
		{"s3://h/bkt?timeout=10ms", pierKeys, "s3 timeout 10ms: want between 1s and 1h0m0s"},
		{"s3://h/bkt?timeout=2h", pierKeys, "s3 timeout 2h0m0s"},
		{"s3://h/bkt?tls=true&tls=false", pierKeys, `"tls" given 2 times`},
		{"s3://h/bkt?secure=true", pierKeys, `unknown parameter "secure"`},
		{"s3://h/bkt?x=%zz", pierKeys, "query"},
		{"s3://h/bkt", env(), "credentials are missing"},
		{"s3://h/bkt", env("PIER_S3_ACCESS_KEY", "ak", "AWS_SECRET_ACCESS_KEY", "sk"), "credentials are missing"},
	} {
		_, err := ParseURL(tc.url, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseURL(%q) = %v, want an error with %q", tc.url, err, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseURL(%q): error spans lines: %q", tc.url, err)
		}
	}
}

// Credentials in the URL are refused without being repeated, even when
// the rest of the URL does not parse.
func TestParseURLRefusesUserinfo(t *testing.T) {
	for _, raw := range []string{
		"s3://admin:hunter2-secret@h:9000/bkt",
		"s3://admin:hunter2-secret@h:bad/bkt",
		"s3://admin:hunter2-secret%zz@h/bkt",
	} {
		_, err := ParseURL(raw, pierKeys)
		if err == nil {
			t.Fatalf("ParseURL(%q) accepted credentials", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	_, err := ParseURL("s3://admin:hunter2-secret@h:9000/bkt", pierKeys)
	if !strings.Contains(err.Error(), "credentials in the URL") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestValidateDirect(t *testing.T) {
	ok := Config{Endpoint: "h:9000", Bucket: "bkt", AccessKey: "a", SecretKey: "s"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", ok, err)
	}
	for _, tc := range []struct {
		mod     func(*Config)
		wantErr string
	}{
		{func(c *Config) { c.Endpoint = "" }, "endpoint is missing"},
		{func(c *Config) { c.Endpoint = "http://h" }, "endpoint"},
		{func(c *Config) { c.Prefix = "/x/" }, "prefix"},
		{func(c *Config) { c.SecretKey = "" }, "credentials"},
		{func(c *Config) { c.PartSize = 1 }, "part size"},
		{func(c *Config) { c.MaxConcurrentUploads = -1 }, "max concurrent uploads"},
		{func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{func(c *Config) { c.Timeout = 999 * time.Millisecond }, "timeout"},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Validate(%+v) = %v, want %q", c, err, tc.wantErr)
		}
	}
}

func TestSignPayload(t *testing.T) {
	for _, tc := range []struct {
		tls  bool
		mode string
		want bool
	}{
		{false, "", false}, {true, "", false}, {false, "auto", false}, {true, "auto", false},
		{true, "on", true}, {false, "on", true}, {false, "off", false},
	} {
		if got := signPayload(Config{TLS: tc.tls, ContentSHA256: tc.mode}); got != tc.want {
			t.Errorf("signPayload(tls=%v, %q) = %v, want %v", tc.tls, tc.mode, got, tc.want)
		}
	}
}
