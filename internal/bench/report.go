package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
)

// figure is one line of the performance table: a value, the baseline it
// is compared with in the same rounds, and where the CPU went.
type figure struct {
	Name      string  `json:"name"`
	What      string  `json:"what"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Baseline  string  `json:"baseline,omitempty"`
	BaseValue float64 `json:"baseline_value,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"` // median of the rounds' ratios
	Target    string  `json:"target,omitempty"`
	// CPU is CPU seconds per GiB moved (per 1,000 files, per listing)
	// of each process: server (pier or sshd), minio, client.
	CPU       map[string]float64 `json:"cpu,omitempty"`
	CPUUnit   string             `json:"cpu_unit,omitempty"`
	BaseCPU   map[string]float64 `json:"baseline_cpu,omitempty"`
	PeakRSSMB float64            `json:"peak_rss_mb,omitempty"` // MiB (the name is kept for previous.json)
	Extra     map[string]float64 `json:"extra,omitempty"`
	Notes     []string           `json:"notes,omitempty"`
	Rounds    int                `json:"rounds"`
}

type runFile struct {
	Date    string   `json:"date"`
	Commit  string   `json:"commit"`
	Rounds  int      `json:"rounds"`
	SizeMiB int64    `json:"size_mib"`
	Figures []figure `json:"figures"`
}

// figDef says how a figure comes from phases.
type figDef struct {
	name, what  string
	phase, base string
	kind        string // rate (units/s), secs, rss, completed
	unit        string
	target      string
}

var figDefs = []figDef{
	{"sftp-put", "SFTP put to S3, OpenSSH sftp, aes128-gcm", "sftp-put", "direct-put", "rate", "MB/s", "≥ 0.50× direct; ≤ 1.6 CPU-s/GiB in pier"},
	{"sftp-get", "SFTP get from S3, OpenSSH sftp, aes128-gcm", "sftp-get", "direct-get", "rate", "MB/s", "≥ 0.50× direct; ≤ 1.0 CPU-s/GiB in pier"},
	{"sftp-put-default", "SFTP put, OpenSSH sftp's default algorithms", "sftp-put-default", "sftp-put", "rate", "MB/s", "≥ 0.90× aes128-gcm"},
	{"sftp-get-default", "SFTP get, OpenSSH sftp's default algorithms", "sftp-get-default", "sftp-get", "rate", "MB/s", "≥ 0.90× aes128-gcm"},
	{"layer-put", "SFTP layer alone: put to disk on tmpfs", "layer-put", "osftp-put", "rate", "MB/s", "≥ 1.3× OpenSSH internal-sftp"},
	{"layer-get", "SFTP layer alone: get from disk on tmpfs", "layer-get", "osftp-get", "rate", "MB/s", "≥ 1.3× OpenSSH internal-sftp"},
	{"dav-put", "WebDAV PUT to S3, curl, plain HTTP", "dav-put", "direct-put", "rate", "MB/s", "≥ 0.80× direct"},
	{"dav-put-tls", "WebDAV PUT to S3, curl, TLS", "dav-put-tls", "direct-put", "rate", "MB/s", "≥ 0.70× direct"},
	{"dav-get", "WebDAV GET from S3, curl, plain HTTP", "dav-get", "direct-get", "rate", "MB/s", "≥ 1.0× direct"},
	{"sftp-put-peer", "SFTP put to S3: pier against the peer", "sftp-put", "peer-sftp-put", "rate", "MB/s", "≥ 1.5× the peer"},
	{"sftp-get-peer", "SFTP get from S3: pier against the peer", "sftp-get", "peer-sftp-get", "rate", "MB/s", "keep (1.49×)"},
	{"dav-put-peer", "WebDAV PUT to S3, plain HTTP: pier against the peer", "dav-put", "peer-dav-put", "rate", "MB/s", "≥ 1.3× the peer"},
	{"dav-get-peer", "WebDAV GET from S3, plain HTTP: pier against the peer", "dav-get", "peer-dav-get", "rate", "MB/s", "keep (2.78×)"},
	{"dav-get-tls", "WebDAV GET from S3, curl, TLS", "dav-get-tls", "direct-get", "rate", "MB/s", "≥ 0.90× direct"},
	{"small-files", "1,000 × 10 KiB over 8 SFTP sessions", "small-sftp", "small-direct", "rate", "files/s", "≥ 0.50× direct 8-worker PutObject"},
	{"small-files-peer", "1,000 × 10 KiB over 8 SFTP sessions: pier against the peer", "small-sftp", "small-peer", "rate", "files/s", "keep (2.38×)"},
	{"burst-20x64", "peak RSS, 20 concurrent 64 MiB SFTP uploads", "burst-20x64", "", "rss", "MiB", "≤ 256 MiB"},
	{"burst-20x64-peer", "peak RSS, 20 × 64 MiB: pier against the peer (lower is better)", "burst-20x64", "burst-peer-20x64", "rss", "MiB", "below the peer"},
	{"burst-200x64", "200 concurrent 64 MiB SFTP uploads: completed", "burst-200x64", "", "completed", "uploads", "all 200; peak RSS ≤ 1 GiB"},
	{"propfind-100k", "PROPFIND Depth 1, 100,000 entries: total", "propfind-100k", "", "secs", "s", "first byte < 0.2 s; total ≤ 2 s; RSS growth < 64 MiB"},
	{"readdir-100k", "SFTP readdir, 100,000 entries: total", "readdir-100k", "", "secs", "s", "keep (1.1 s)"},
	{"rename-sqlite-100k", "rename of a folder of 100,000 files in 1,000 subfolders, SQLite", "rename-sqlite-100k", "", "secs", "s", "< 0.2 s"},
	{"rename-pg-10k", "rename of a folder of 10,000 files in 100 subfolders, PostgreSQL", "rename-pg-10k", "", "secs", "s", "< 0.1 s"},
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (d figDef) value(s sample) float64 {
	switch d.kind {
	case "rate":
		v := s.units / s.secs
		if d.unit == "MB/s" {
			v /= 1e6
		}
		return v
	case "rss":
		return float64(s.peak >> 20)
	case "completed":
		return s.extra["completed"]
	}
	return s.secs
}

// figures turns the rounds' samples into the table: medians of values,
// of per-round ratios and of CPU per unit.
func figures(samples map[string][]sample, notes map[string][]string) []figure {
	var out []figure
	for _, d := range figDefs {
		ss := samples[d.phase]
		if len(ss) == 0 || (strings.Contains(d.base, "peer") && len(samples[d.base]) == 0) {
			continue // a figure against the peer needs -peer
		}
		f := figure{Name: d.name, What: d.what, Unit: d.unit, Target: d.target, Rounds: len(ss),
			Extra: map[string]float64{}, Notes: notes[d.phase]}
		var vals, bases, ratios, peaks []float64
		cpu, baseCPU := map[string][]float64{}, map[string][]float64{}
		extra := map[string][]float64{}
		base := samples[d.base]
		per, unit := 1.0, ""
		switch {
		case d.unit == "MB/s" || d.kind == "rss" || d.kind == "completed":
			per, unit = float64(1<<30), "CPU-s/GiB"
		case d.unit == "files/s":
			per, unit = 1000, "CPU-s/1000 files"
		default:
			per, unit = 0, "CPU-s"
		}
		for i, s := range ss {
			v := d.value(s)
			vals = append(vals, v)
			peaks = append(peaks, float64(s.peak>>20))
			if i < len(base) {
				bv := d.value(base[i])
				bases = append(bases, bv)
				ratios = append(ratios, v/bv)
			}
			div := 1.0
			if per > 0 && s.units > 0 {
				div = s.units / per
			}
			addCPU(cpu, s, div)
			if i < len(base) {
				bdiv := 1.0
				if per > 0 && base[i].units > 0 {
					bdiv = base[i].units / per
				}
				addCPU(baseCPU, base[i], bdiv)
			}
			for k, v := range s.extra {
				extra[k] = append(extra[k], v)
			}
		}
		f.Value = median(vals)
		if len(bases) > 0 {
			f.Baseline, f.BaseValue, f.Ratio = d.base, median(bases), median(ratios)
		}
		f.CPU, f.CPUUnit = map[string]float64{}, unit
		for k, v := range cpu {
			f.CPU[k] = median(v)
		}
		if len(baseCPU) > 0 {
			f.BaseCPU = map[string]float64{}
			for k, v := range baseCPU {
				f.BaseCPU[k] = median(v)
			}
		}
		f.PeakRSSMB = median(peaks)
		for k, v := range extra {
			f.Extra[k] = median(v)
		}
		out = append(out, f)
	}
	return out
}

func addCPU(m map[string][]float64, s sample, div float64) {
	if s.server > 0 {
		m["server"] = append(m["server"], s.server.Seconds()/div)
	}
	m["minio"] = append(m["minio"], s.minio.Seconds()/div)
	m["client"] = append(m["client"], s.client.Seconds()/div)
}

func loadPrevious(file string) map[string]figure {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var rf runFile
	if json.Unmarshal(data, &rf) != nil {
		return nil
	}
	m := map[string]figure{}
	for _, f := range rf.Figures {
		m[f.Name] = f
	}
	return m
}

// report prints the table: each figure beside its baseline of the same
// rounds and its previous run.
func report(w io.Writer, figs []figure, prev map[string]figure, rounds int) {
	fmt.Fprintf(w, "\npier bench: medians of %d round(s); CPU per process: server (pier or sshd) / MinIO / clients\n\n", rounds)
	fmt.Fprintf(w, "%-18s %10s %-9s %-24s %7s %7s  %-22s %8s  %s\n",
		"figure", "value", "unit", "baseline", "ratio", "prev", "CPU server/minio/client", "peak RSS", "target")
	num := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "-"
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprintf("%.3g", v)
	}
	for _, f := range figs {
		base, ratio, was := "", "", ""
		if f.Baseline != "" {
			base = fmt.Sprintf("%s %s", f.Baseline, num(f.BaseValue))
			ratio = fmt.Sprintf("%.2f×", f.Ratio)
		}
		if p, ok := prev[f.Name]; ok {
			if p.Ratio != 0 {
				was = fmt.Sprintf("%.2f×", p.Ratio)
			} else {
				was = num(p.Value)
			}
		}
		cpu := fmt.Sprintf("%s/%s/%s", num(f.CPU["server"]), num(f.CPU["minio"]), num(f.CPU["client"]))
		fmt.Fprintf(w, "%-18s %10s %-9s %-24s %7s %7s  %-22s %6.0fMiB %s\n",
			f.Name, num(f.Value), f.Unit, base, ratio, was, cpu, f.PeakRSSMB, f.Target)
		var extras []string
		for _, k := range slices.Sorted(maps.Keys(f.Extra)) {
			extras = append(extras, fmt.Sprintf("%s %s", k, num(f.Extra[k])))
		}
		if f.BaseCPU != nil {
			extras = append(extras, fmt.Sprintf("baseline CPU %s/%s/%s", num(f.BaseCPU["server"]), num(f.BaseCPU["minio"]), num(f.BaseCPU["client"])))
		}
		if len(extras) > 0 || len(f.Notes) > 0 {
			fmt.Fprintf(w, "%18s %s %s\n", "", strings.Join(extras, ", "), strings.Join(f.Notes, "; "))
		}
	}
	fmt.Fprintf(w, "\nCPU is %s for transfers, per 1,000 files for small files, seconds for listings.\n", "CPU-s/GiB")
}
