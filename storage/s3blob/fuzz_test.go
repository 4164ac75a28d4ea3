package s3blob

import (
	"reflect"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// Credentials the fuzzed parses get from the environment: distinctive, so
// that finding one in an error means it leaked.
const (
	fuzzAccessKey = "AKfuzzACCESSkey7"
	fuzzSecretKey = "SKfuzzSECRETvalue9"
)

// FuzzParseURL checks what must hold for any storage URL:
//
//   - ParseURL never panics, and its errors are one line;
//   - what it accepts passes Validate, and minio-go accepts its endpoint
//     (so Open fails only by the network or the service, never by syntax);
//   - Config.URL round-trips: ParseURL(c.URL()) gives c back, and the
//     rendered URL is a fixed point;
//   - no credential appears in an error or in c.URL(): neither those from
//     the environment nor a password written into the URL.
//
// The seeds run with every go test; go test -fuzz=FuzzParseURL explores.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"s3://127.0.0.1:9000/pier-test",
		"s3://minio.example.com/pier/a/b?region=eu-1&tls=false&path-style=false&create-bucket=true&part-size=32MiB&max-uploads=4&content-sha256=off&timeout=1m30s",
		"s3://h/bkt/p/?part-size=5242880&timeout=30s",
		"s3://[::1]:9000/bkt?part-size=1GiB",
		"s3://s3.eu-central-1.amazonaws.com/bucket.with.dots/deep/er/prefix/?region=eu-central-1",
		"s3://h/bkt/a%2Fb/c%3Fd?content-sha256=on&max-uploads=1",
		"s3://h/bkt?region=",
		"s3://admin:hunter2-secret@h:9000/bkt",
		"s3://admin:hunter2-secret@h:bad/bkt",
		"s3://admin:hunter2-secret%zz@h/bkt",
		"s3://a@b@c/bkt",
		"s3://h/bkt?timeout=10ms", "s3://h/bkt?timeout=-1s", "s3://h/bkt?timeout=1e9",
		"s3://h/bkt?tls=true&tls=false", "s3://h/bkt?x=%zz", "s3://h/bkt#frag",
		"s3://h/B_ad", "s3://h/bkt//x", "s3://h/bkt/../x", "s3://h/bkt/x\\y", "s3://h/bkt/x%00y",
		"s3:bkt", "s3:///bkt", "s3://h", "http://h/bkt", "", "://", "s3://%41/bkt", "s3://h_x/bkt",
		"s3://h:99999/bkt", "s3://h_x/bkt", "s3://ünï.example/bkt", "s3://h/bkt/\u00e9t\u00e9/",
	} {
		f.Add(seed)
	}
	getenv := env("PIER_S3_ACCESS_KEY", fuzzAccessKey, "PIER_S3_SECRET_KEY", fuzzSecretKey)
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseURL(raw, getenv)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, secret := range []string{fuzzAccessKey, fuzzSecretKey, urlPassword(raw)} {
				if secret != "" && strings.Contains(msg, secret) && !strings.Contains(stripUserinfo(raw), secret) {
					t.Errorf("error shows the credential %q: %s", secret, msg)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseURL(%q) accepted a config that Validate refuses: %v", raw, err)
		}
		if _, err := minio.New(c.Endpoint, &minio.Options{Secure: c.TLS}); err != nil {
			t.Errorf("ParseURL(%q) accepted endpoint %q, which minio-go refuses: %v", raw, c.Endpoint, err)
		}
		rendered := c.URL()
		if strings.Contains(rendered, fuzzAccessKey) || strings.Contains(rendered, fuzzSecretKey) {
			t.Fatalf("URL() shows a credential: %s", rendered)
		}
		back, err := ParseURL(rendered, getenv)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, but its URL() %q does not parse: %v", raw, c, rendered, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", raw, rendered, back, c)
		}
		if again := back.URL(); again != rendered {
			t.Fatalf("URL() is not a fixed point: %q, then %q", rendered, again)
		}
	})
}

// urlPassword is the password in the authority of raw, as url.Parse would
// find it (after the last "@"), even when the rest does not parse; "" for
// none or one too short to tell from other text.
func urlPassword(raw string) string {
	userinfo, _, ok := authority(raw)
	if !ok {
		return ""
	}
	_, pw, _ := strings.Cut(userinfo, ":")
	if len(pw) < 6 {
		return ""
	}
	return pw
}

// stripUserinfo is raw without the user information of its authority.
func stripUserinfo(raw string) string {
	userinfo, rest, ok := authority(raw)
	if !ok {
		return raw
	}
	return strings.Replace(raw, userinfo+"@"+rest, rest, 1)
}

func authority(raw string) (userinfo, rest string, ok bool) {
	_, after, found := strings.Cut(raw, "://")
	if !found {
		return "", "", false
	}
	auth := after
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	i := strings.LastIndex(auth, "@")
	if i < 0 {
		return "", "", false
	}
	return auth[:i], auth[i+1:], true
}
