// Package config holds pier's configuration: a plain struct filled from
// defaults, then the environment, then command-line flags, checked by
// Validate and passed explicitly to what needs it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pier/defender"
	"pier/directory"
	"pier/identity"
	"pier/lifecycle"
	"pier/storage"
)

// Config is everything a pier node needs to start.
type Config struct {
	// DataDir holds the embedded database, local blobs and host keys.
	DataDir string
	// DB is "postgres://…" or "sqlite:PATH"; empty means DataDir/pier.db.
	DB string
	// Storage is "s3://ENDPOINT/BUCKET[/PREFIX]?…", "file:PATH" or empty
	// for DataDir/blobs.
	Storage string

	SFTPAddr string
	// SFTPCompatAddr is the SFTP compatibility listener (older algorithms,
	// only for accounts marked for it); "" or "off" (the default) for none.
	SFTPCompatAddr string
	DAVAddr        string
	AdminAddr      string

	// TLSCert and TLSKey serve WebDAV over TLS; without them a
	// self-signed certificate is made in DataDir/tls.
	TLSCert, TLSKey string
	// DAVInsecure serves WebDAV over plain HTTP (development only).
	DAVInsecure bool
	// PublicNames are the host names (or addresses) partners use to reach
	// this node; the self-signed certificate names them too.
	PublicNames []string

	// SFTPChaCha20 also offers chacha20-poly1305 (last): slow in Go.
	SFTPChaCha20 bool
	// SFTPCompatMACs also offers non-ETM hmac-sha2 MACs for old libssh2.
	SFTPCompatMACs bool
	// SFTPStrictSetstat refuses setstat of permissions and owners.
	SFTPStrictSetstat bool
	// SFTPUnauthPerSource bounds the SFTP connections one IPv4 address or
	// IPv6 /64 may have before authenticating, waiting ones included
	// (sftpd's MaxUnauthenticatedPerSource); partners behind one NAT
	// address or a proxy in front of pier may need more.
	SFTPUnauthPerSource int

	// GCInterval is how often a node collects unreferenced blobs; 0 stops it.
	GCInterval time.Duration
	GC         storage.GCOptions
	// ShutdownGrace is how long in-flight transfers get to finish on stop.
	ShutdownGrace time.Duration
	// AuditKey is the file of the audit log's signing key (note's private
	// key text, its public key beside it as .pub); empty means
	// DATA/audit/audit.key, made on first start. Every node of a cluster
	// needs the same key.
	AuditKey string
	// AuditRetention is how long audit records keep their data; 0 keeps
	// them for ever. Pruned records keep their hashes.
	AuditRetention time.Duration
	// AuditStdout writes every audit record as one JSON line on stdout.
	AuditStdout bool

	// ReadyTimeout bounds one /readyz check of the database and the blob
	// storage: a store that does not answer within it is not ready.
	ReadyTimeout time.Duration

	// Defender guards every login surface against guessing.
	Defender defender.Config
	// Lifecycle runs the inactivity job.
	Lifecycle lifecycle.Config
	// Policy is the security policy where no organisation sets one: MFA
	// rule, codes after keys, inactivity suspension and deletion.
	Policy identity.Policy
	// MFAKey is the file with the key that seals TOTP secrets; empty
	// means DataDir/mfa.key. Every node needs the same file.
	MFAKey string
	// SSHUserCA is a file of SSH certificate authority public keys
	// (authorized_keys format) whose user certificates log in; empty
	// accepts no certificate.
	SSHUserCA string
	// TransferMemory bounds the memory of all transfer buffers together
	// (S3 part buffers, read windows, upload buffers): beyond it a new
	// transfer waits briefly, then is refused as "server busy". 0 picks
	// a default from GOMEMLIMIT or the machine's memory.
	TransferMemory Size
	// AdminPprof serves Go's profiler under /debug/pprof/ on the admin
	// listener, for measuring where CPU and memory go.
	AdminPprof bool

	envErrs []error // malformed environment variables, for Validate

	// Directory is the LDAP / Active Directory to sync users from and,
	// optionally, to check their passwords against; off without a URL.
	Directory directory.Config
	// DirectoryFile is the JSON file Directory was read from, if any.
	DirectoryFile string
}

// minTransferMemory is two S3 parts of the default size.
const minTransferMemory = 32 << 20

// Default returns the zero-configuration settings: everything embedded
// under ./pier-data.
func Default() Config {
	return Config{
		DataDir:             "pier-data",
		SFTPAddr:            ":2022",
		DAVAddr:             ":8080",
		AdminAddr:           "127.0.0.1:8081",
		SFTPUnauthPerSource: 32,
		GCInterval:          10 * time.Minute,
		GC:                  storage.DefaultGCOptions,
		ShutdownGrace:       30 * time.Second,
		ReadyTimeout:        5 * time.Second,
		AuditRetention:      396 * 24 * time.Hour,
		AuditStdout:         true,
		Directory:           directory.Default(),
		Defender:            defender.DefaultConfig(),
		Lifecycle:           lifecycle.DefaultConfig(),
		Policy:              identity.Policy{MFA: identity.MFAOff, MFAKeys: "no", InactiveDays: 90, DeleteDays: -1},
	}
}

// FromEnv overrides c with PIER_* environment variables that are set.
func (c *Config) FromEnv(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"PIER_DATA": &c.DataDir, "PIER_DB": &c.DB, "PIER_STORAGE": &c.Storage,
		"PIER_SFTP_ADDR": &c.SFTPAddr, "PIER_SFTP_COMPAT_ADDR": &c.SFTPCompatAddr, "PIER_DAV_ADDR": &c.DAVAddr, "PIER_ADMIN_ADDR": &c.AdminAddr,
		"PIER_MFA_KEY": &c.MFAKey, "PIER_SSH_USER_CA": &c.SSHUserCA,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("PIER_TRANSFER_MEMORY"); v != "" {
		if err := c.TransferMemory.Set(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("PIER_TRANSFER_MEMORY: %w", err))
		}
	}
	if v := getenv("PIER_PUBLIC_NAME"); v != "" {
		c.PublicNames = nil
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.PublicNames = append(c.PublicNames, name) // Validate checks them
			}
		}
	}
}

// Size is a number of bytes written with an optional unit: B, KB, MB, GB
// (powers of 1000), KiB, MiB, GiB (powers of 1024).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

func (s *Size) Set(v string) error {
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size (like 256MiB or 1GiB)", v)
	}
	*s = Size(n * mult)
	return nil
}

func (s *Size) String() string {
	if s == nil || *s == 0 {
		return "0"
	}
	n := int64(*s)
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

// StoreFlags registers the flags every command that opens the store needs.
func (c *Config) StoreFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory for the embedded database, blobs and host keys (env PIER_DATA)")
	fs.StringVar(&c.DB, "db", c.DB, "catalog database: postgres://… or sqlite:PATH (env PIER_DB; default DATA/pier.db)")
	fs.StringVar(&c.AuditKey, "audit-key", c.AuditKey, "audit log signing key file (default DATA/audit/audit.key, made on first start; its public key is the .pub beside it)")
	fs.StringVar(&c.Storage, "storage", c.Storage, "blob storage: s3://ENDPOINT/BUCKET[/PREFIX]?region=&tls= or file:PATH (env PIER_STORAGE; default DATA/blobs)")
}

// ServeFlags registers the flags of `pier serve`.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	c.StoreFlags(fs)
	fs.StringVar(&c.SFTPAddr, "sftp-addr", c.SFTPAddr, "SFTP listen address (env PIER_SFTP_ADDR)")
	fs.StringVar(&c.SFTPCompatAddr, "sftp-compat-addr", c.SFTPCompatAddr, "SFTP compatibility listener for old integration platforms (JSch 0.1.54, libssh2 1.10): also non-ETM MACs and ssh-rsa user keys, and only for users and organisations marked with ssh-compat (env PIER_SFTP_COMPAT_ADDR; default off)")
	fs.StringVar(&c.DAVAddr, "dav-addr", c.DAVAddr, "WebDAV listen address (env PIER_DAV_ADDR)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin/health HTTP listen address (env PIER_ADMIN_ADDR)")
	fs.BoolVar(&c.SFTPStrictSetstat, "sftp-strict-setstat", c.SFTPStrictSetstat, "refuse SFTP setstat of permissions and owners (default: accepted and ignored)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM) for WebDAV; default: a self-signed one in DATA/tls")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM) for --tls-cert")
	fs.BoolVar(&c.DAVInsecure, "dav-insecure", c.DAVInsecure, "serve WebDAV over plain HTTP: passwords travel in clear (development only)")
	fromEnv := true // the first --public-name replaces PIER_PUBLIC_NAME's
	fs.Func("public-name", "host name or address partners use to reach this node; the self-signed certificate names it (repeatable, or comma-separated; env PIER_PUBLIC_NAME)", func(v string) error {
		if fromEnv {
			c.PublicNames, fromEnv = nil, false
		}
		return c.addPublicNames(v)
	})
	fs.BoolVar(&c.SFTPChaCha20, "sftp-chacha20", c.SFTPChaCha20, "also offer chacha20-poly1305 (last; about 4x slower than AES-GCM in Go)")
	fs.BoolVar(&c.SFTPCompatMACs, "sftp-compat-macs", c.SFTPCompatMACs, "also offer hmac-sha2-256/512 without ETM, for libssh2 before 1.11 (curl, PHP on Debian 12)")
	fs.IntVar(&c.SFTPUnauthPerSource, "sftp-unauth-per-source", c.SFTPUnauthPerSource, "SFTP connections one IPv4 address or IPv6 /64 may have before authenticating, waiting ones included; more are closed at once")
	fs.DurationVar(&c.GCInterval, "gc-interval", c.GCInterval, "how often to collect unreferenced blobs (0 disables)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "time in-flight transfers get to finish on SIGINT/SIGTERM")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "time /readyz gives the database and the blob storage to answer")
	fs.Var(&c.TransferMemory, "transfer-memory", "memory all transfer buffers may hold together, e.g. 256MiB (env PIER_TRANSFER_MEMORY; default: a quarter of GOMEMLIMIT, else 1/128 of the machine's memory, 64 MiB to 1 GiB)")
	fs.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve Go's profiler under /debug/pprof/ on the admin listener")
	fs.DurationVar(&c.AuditRetention, "audit-retention", c.AuditRetention, "how long audit records keep their data (0: for ever); their hashes stay")
	fs.BoolVar(&c.AuditStdout, "audit-stdout", c.AuditStdout, "write every audit record as a JSON line on standard output")
	c.DirectoryFlags(fs)
	c.SecurityFlags(fs)
}

// SecurityFlags registers the defender's, the lifecycle job's and the
// default security policy's flags.
func (c *Config) SecurityFlags(fs *flag.FlagSet) {
	d := &c.Defender
	fs.BoolVar(&d.Enabled, "defender", d.Enabled, "ban sources that fail to log in and guard accounts against guessing (--defender=false turns it off)")
	fs.IntVar(&d.Threshold, "defender-threshold", d.Threshold, "score within --defender-window that bans a source (a wrong password scores 1, an unknown login 2, a handshake without authentication 1, malformed protocol 3)")
	fs.DurationVar(&d.Window, "defender-window", d.Window, "how long a failure counts towards its source's score")
	fs.DurationVar(&d.BanTime, "defender-ban", d.BanTime, "a source's first ban; each ban that follows one within a day doubles it")
	fs.DurationVar(&d.MaxBanTime, "defender-max-ban", d.MaxBanTime, "the longest ban")
	fs.DurationVar(&d.Delay, "defender-delay", d.Delay, "wait added to every failed authentication")
	fs.IntVar(&d.AccountSlow, "defender-account-slow", d.AccountSlow, "failures against one account from any source within --defender-account-window after which each failure waits twice as long")
	fs.IntVar(&d.AccountBlock, "defender-account-block", d.AccountBlock, "failures against one account after which passwords and codes are refused from sources where it never logged in (keys and certificates still work)")
	fs.DurationVar(&d.AccountWindow, "defender-account-window", d.AccountWindow, "how long a failure counts against its account")
	fs.Func("defender-allow", "networks never scored or banned, 192.0.2.0/24,2001:db8::/32", prefixes(&d.Allow))
	fs.Func("defender-deny", "networks always refused", prefixes(&d.Deny))
	fs.DurationVar(&c.Lifecycle.Interval, "lifecycle-interval", c.Lifecycle.Interval, "how often a node runs the inactivity job (one node at a time; 0 stops it on this node)")
	fs.IntVar(&c.Policy.InactiveDays, "inactive-days", c.Policy.InactiveDays, "suspend accounts with no login for this many days, where the organisation sets no policy (-1: never)")
	fs.IntVar(&c.Policy.DeleteDays, "delete-inactive-days", c.Policy.DeleteDays, "delete accounts this many days after their suspension for inactivity, where the organisation sets no policy (-1: never)")
	fs.Func("mfa", "whom a second factor is required of, where the organisation sets no policy: off, admins, staff, all (default off)", func(v string) error {
		r, err := identity.ParseMFARule(v)
		if err != nil || r == identity.MFAInherit {
			return fmt.Errorf("want off, admins, staff or all")
		}
		c.Policy.MFA = r
		return nil
	})
	fs.Func("mfa-keys", "yes: users the MFA rule covers give a code after a key or certificate too (default no)", func(v string) error {
		if v != "yes" && v != "no" {
			return fmt.Errorf("want yes or no")
		}
		c.Policy.MFAKeys = v
		return nil
	})
	fs.StringVar(&c.MFAKey, "mfa-key", c.MFAKey, "file with the key that seals TOTP secrets (env PIER_MFA_KEY; default DATA/mfa.key; every node needs the same)")
	fs.StringVar(&c.SSHUserCA, "ssh-user-ca", c.SSHUserCA, "file of SSH CA public keys whose user certificates may log in (env PIER_SSH_USER_CA)")
}

func prefixes(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		ps, err := defender.ParsePrefixes(v)
		if err != nil {
			return err
		}
		*dst = append(*dst, ps...)
		return nil
	}
}

// MFAKeyFile is the file with the key that seals TOTP secrets.
func (c *Config) MFAKeyFile() string {
	if c.MFAKey != "" {
		return c.MFAKey
	}
	return filepath.Join(c.DataDir, "mfa.key")
}

// addPublicNames adds comma-separated host names or addresses.
func (c *Config) addPublicNames(v string) error {
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if net.ParseIP(name) == nil && !hostName(name) {
			return fmt.Errorf("%q is not a host name or an IP address", name)
		}
		c.PublicNames = append(c.PublicNames, name)
	}
	return nil
}

// hostName reports whether s is a DNS host name: dot-separated labels of
// letters, digits and inner hyphens.
func hostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// GCFlags registers the age thresholds of garbage collection.
func (c *Config) GCFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.GC.UploadAge, "upload-age", c.GC.UploadAge, "collect unfinished uploads begun longer ago than this")
	fs.DurationVar(&c.GC.GarbageAge, "garbage-age", c.GC.GarbageAge, "keep replaced or deleted blobs this long for readers still reading them")
	fs.DurationVar(&c.GC.SweepAge, "sweep-age", c.GC.SweepAge, "collect blobs unknown to the catalog once older than this")
}

// DBURL is the database to open.
func (c *Config) DBURL() string {
	if c.DB != "" {
		return c.DB
	}
	return "sqlite:" + filepath.Join(c.DataDir, "pier.db")
}

// StorageURL is the blob storage to open.
func (c *Config) StorageURL() string {
	if c.Storage != "" {
		return c.Storage
	}
	return "file:" + filepath.Join(c.DataDir, "blobs")
}

// Validate checks the settings without touching the network or disk.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data: must not be empty"))
	}
	if db := c.DBURL(); !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") && !strings.HasPrefix(db, "sqlite:") {
		errs = append(errs, fmt.Errorf("--db: %s: want postgres://… or sqlite:PATH", scheme(db)))
	}
	if st := c.StorageURL(); !strings.HasPrefix(st, "s3://") && !strings.HasPrefix(st, "file:") {
		errs = append(errs, fmt.Errorf("--storage: %s: want s3://ENDPOINT/BUCKET or file:PATH", scheme(st)))
	}
	for _, a := range []struct{ flag, addr string }{
		{"--sftp-addr", c.SFTPAddr}, {"--sftp-compat-addr", c.SFTPCompatAddr}, {"--dav-addr", c.DAVAddr}, {"--admin-addr", c.AdminAddr},
	} {
		if a.addr == "" || a.addr == "off" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port (or \"off\")", a.flag, a.addr))
		}
	}
	for _, name := range c.PublicNames {
		if net.ParseIP(name) == nil && !hostName(name) {
			errs = append(errs, fmt.Errorf("--public-name: %q is not a host name or an IP address", name))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.AuditRetention < 0 {
		errs = append(errs, errors.New("--audit-retention must not be negative"))
	}
	if c.SFTPUnauthPerSource <= 0 {
		errs = append(errs, fmt.Errorf("--sftp-unauth-per-source: must be positive, not %d", c.SFTPUnauthPerSource))
	}
	if c.GCInterval < 0 || c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("--gc-interval and --shutdown-grace must not be negative"))
	}
	if c.ReadyTimeout <= 0 {
		errs = append(errs, errors.New("--ready-timeout must be positive"))
	}
	if c.TransferMemory != 0 && c.TransferMemory < minTransferMemory {
		errs = append(errs, fmt.Errorf("--transfer-memory: %s is too little: at least 32MiB (two S3 parts)", c.TransferMemory.String()))
	}
	errs = append(errs, c.envErrs...)
	if err := c.Directory.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Defender.Validate(), c.Lifecycle.Validate())
	if c.Policy.MFA == identity.MFAInherit || c.Policy.MFAKeys == "" || c.Policy.InactiveDays == 0 || c.Policy.DeleteDays == 0 {
		errs = append(errs, errors.New("--mfa, --mfa-keys, --inactive-days and --delete-inactive-days need a value (days: a number, or -1 for never)"))
	}
	return errors.Join(errs...)
}

// scheme names what kind of URL s is without echoing secrets in it.
func scheme(s string) string {
	if sch, _, ok := strings.Cut(s, "://"); ok {
		return fmt.Sprintf("unknown scheme %q", sch)
	}
	return "not a URL"
}
