package workload

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// TraceFormat is how a trace file encodes its keys.
type TraceFormat int

const (
	// ARC: text lines "start count x y" meaning keys start .. start+count-1.
	ARC TraceFormat = iota
	// LIRS: text, one decimal key per line.
	LIRS
	// Binary: big-endian uint64 keys, 8 bytes each.
	Binary
)

// TraceFile names a trace in the traces folder.
type TraceFile struct {
	// Name is the short name used in tables.
	Name string
	// File is the file name inside the traces folder.
	File string
	// Format is the file's encoding.
	Format TraceFormat
}

// TraceFiles lists the recorded traces the hit-ratio benchmarks know.
var TraceFiles = []TraceFile{
	{"oltp", "oltp.gz", ARC},
	{"p3", "p3.gz", ARC},
	{"loop", "loop.gz", LIRS},
	{"gli", "gli.gz", LIRS},
	{"vault", "trace_vaultservice.gz", Binary},
	{"scarab", "scarab-recs.trace.xz", Binary},
}

// ErrNoTraces reports that the traces folder is absent.
var ErrNoTraces = errors.New("traces folder not found")

// FindTraces returns dir if it holds the traces, or an error wrapping ErrNoTraces.
func FindTraces(dir string) (string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%w: %s", ErrNoTraces, dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// DefaultTraceDir is ../shared/traces relative to the repository root: the first directory
// at or above the working directory whose go.mod declares module github.com/mmcache/mmcache.
func DefaultTraceDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return "../shared/traces"
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/mmcache/mmcache\n") {
			return filepath.Join(dir, "..", "shared", "traces")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "../shared/traces"
		}
		dir = parent
	}
}

// LoadTrace reads up to limit keys (all when limit <= 0) of trace t from dir.
func LoadTrace(dir string, t TraceFile, limit int) ([]uint64, error) {
	f, err := os.Open(filepath.Join(dir, t.File))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(t.File, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.File, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(t.File, ".xz"):
		xr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.File, err)
		}
		r = xr
	default:
		r = f
	}
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	var keys []uint64
	switch t.Format {
	case Binary:
		keys, err = readBinary(r, limit)
	default:
		keys, err = readText(r, t.Format, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.File, err)
	}
	return keys, nil
}

func readBinary(r io.Reader, limit int) ([]uint64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var keys []uint64
	var buf [8]byte
	for len(keys) < limit {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, err
		}
		keys = append(keys, binary.BigEndian.Uint64(buf[:]))
	}
	return keys, nil
}

func readText(r io.Reader, format TraceFormat, limit int) ([]uint64, error) {
	sc := bufio.NewScanner(r)
	var keys []uint64
	for len(keys) < limit && sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		start, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue // LIRS files may carry a marker line; skip what is not a key
		}
		count := uint64(1)
		if format == ARC && len(fields) > 1 {
			if count, err = strconv.ParseUint(fields[1], 10, 64); err != nil {
				return nil, fmt.Errorf("bad line %q", sc.Text())
			}
		}
		for i := uint64(0); i < count && len(keys) < limit; i++ {
			keys = append(keys, start+i)
		}
	}
	return keys, sc.Err()
}

// Unique counts the distinct keys in keys.
func Unique(keys []uint64) int {
	seen := make(map[uint64]struct{}, len(keys)/4)
	for _, k := range keys {
		seen[k] = struct{}{}
	}
	return len(seen)
}
