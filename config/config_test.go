package config

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"pier/sftpd"
)

func TestValidate(t *testing.T) {
	ok := Default()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.DataDir = "" }, "--data"},
		{func(c *Config) { c.DB = "mysql://u:secret@h/db" }, `--db: unknown scheme "mysql"`},
		{func(c *Config) { c.Storage = "/plain/path" }, "--storage: not a URL"},
		{func(c *Config) { c.SFTPAddr = "2022" }, "--sftp-addr"},
		{func(c *Config) { c.TLSCert = "cert.pem" }, "--tls-cert and --tls-key go together"},
		{func(c *Config) { c.GCInterval = -1 }, "must not be negative"},
		{func(c *Config) { c.SFTPUnauthPerSource = 0 }, "--sftp-unauth-per-source"},
		{func(c *Config) { c.ReadyTimeout = 0 }, "--ready-timeout must be positive"},
		{func(c *Config) { c.PublicNames = []string{"files.example.com", "bad name"} }, `--public-name: "bad name"`},
	}
	for _, c := range cases {
		cfg := Default()
		c.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error about %q", err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows a password: %v", err)
		}
	}
	for _, off := range []string{"off", ""} {
		cfg := Default()
		cfg.SFTPAddr, cfg.DAVAddr = off, off
		if err := cfg.Validate(); err != nil {
			t.Errorf("front ends %q: %v", off, err)
		}
	}
}

func TestEnvThenFlags(t *testing.T) {
	cfg := Default()
	cfg.FromEnv(func(k string) string {
		return map[string]string{"PIER_DB": "postgres://db/pier", "PIER_SFTP_ADDR": ":22"}[k]
	})
	if cfg.DBURL() != "postgres://db/pier" || cfg.SFTPAddr != ":22" || cfg.StorageURL() != "file:pier-data/blobs" {
		t.Fatalf("from env: %+v", cfg)
	}
}

// TestPublicNames: --public-name repeats or takes a list, and replaces
// PIER_PUBLIC_NAME (flags win).
func TestPublicNames(t *testing.T) {
	cfg := Default()
	cfg.FromEnv(func(k string) string {
		return map[string]string{"PIER_PUBLIC_NAME": "files.example.com, 192.0.2.7"}[k]
	})
	if want := []string{"files.example.com", "192.0.2.7"}; !slices.Equal(cfg.PublicNames, want) {
		t.Errorf("from env %v, want %v", cfg.PublicNames, want)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.ServeFlags(fs)
	if err := fs.Parse([]string{"--public-name", "edi.example.net,2001:db8::7", "--public-name", "x.example"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"edi.example.net", "2001:db8::7", "x.example"}; !slices.Equal(cfg.PublicNames, want) {
		t.Errorf("public names %v, want %v", cfg.PublicNames, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if err := fs.Parse([]string{"--public-name", "-bad-.example"}); err == nil {
		t.Error("a bad --public-name was accepted")
	}
}

// TestDefaultsAgree: a flag's default is the front end's own default.
func TestDefaultsAgree(t *testing.T) {
	if got, want := Default().SFTPUnauthPerSource, sftpd.DefaultConfig("").MaxUnauthenticatedPerSource; got != want {
		t.Errorf("--sftp-unauth-per-source defaults to %d, sftpd to %d", got, want)
	}
}
