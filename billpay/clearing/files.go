package clearing

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/billswitch/billswitch/ledger"
)

// section is a part of a file built while the day is read (a provider's payments, a
// bank's rows of one provider): held in memory in blocks, spilled to a work file when
// the sections together outgrow the budget.
type section struct {
	blocks [][]byte
	spill  string // work file holding the bytes before blocks ("" = none yet)
}

const (
	firstBlock = 4 << 10
	blockSize  = 256 << 10
)

type sections struct {
	dir    string
	budget int
	used   int
	all    []*section
	free   [][]byte // full-size blocks to reuse
}

func newSections(dir string, budget int) *sections { return &sections{dir: dir, budget: budget} }

func (s *sections) get() *section {
	sec := &section{}
	s.all = append(s.all, sec)
	return sec
}

func (s *sections) write(sec *section, b []byte) error {
	for len(b) > 0 {
		n := len(sec.blocks)
		if n == 0 || len(sec.blocks[n-1]) == cap(sec.blocks[n-1]) {
			// Blocks double from 4 KiB to 256 KiB, so that many small sections stay small.
			size := firstBlock
			if n > 0 {
				size = min(2*cap(sec.blocks[n-1]), blockSize)
			}
			var blk []byte
			if k := len(s.free); k > 0 && size == blockSize {
				blk, s.free = s.free[k-1][:0], s.free[:k-1]
			} else {
				blk = make([]byte, 0, size)
			}
			s.used += cap(blk)
			sec.blocks = append(sec.blocks, blk)
			n++
		}
		last := sec.blocks[n-1]
		m := min(len(b), cap(last)-len(last))
		sec.blocks[n-1] = append(last, b[:m]...)
		b = b[m:]
	}
	if s.used > s.budget {
		return s.spillAll()
	}
	return nil
}

// spillAll appends every section's blocks to its work file.
func (s *sections) spillAll() error {
	for i, sec := range s.all {
		if len(sec.blocks) == 0 {
			continue
		}
		if sec.spill == "" {
			sec.spill = filepath.Join(s.dir, "s"+strconv.Itoa(i))
		}
		f, err := os.OpenFile(sec.spill, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		for _, blk := range sec.blocks {
			if _, err = f.Write(blk); err != nil {
				break
			}
		}
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
		for _, blk := range sec.blocks {
			if cap(blk) == blockSize && len(s.free) < 64 {
				s.free = append(s.free, blk)
			}
		}
		sec.blocks = nil
	}
	s.used = 0
	return nil
}

// copyTo writes the section's bytes (spilled ones first) to w.
func (sec *section) copyTo(w io.Writer) error {
	if sec.spill != "" {
		f, err := os.Open(sec.spill)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
	}
	for _, blk := range sec.blocks {
		if _, err := w.Write(blk); err != nil {
			return err
		}
	}
	return nil
}

// hashWriter counts and hashes what goes to the file.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// writeAtomic writes dir/name through a temporary file that is synced and renamed over
// it, so a reader sees the old file or the whole new one.
func writeAtomic(dir, name string, fn func(w io.Writer) error) (File, error) {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return File{}, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	hw := &hashWriter{w: bw, h: sha256.New()}
	err = fn(hw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return File{}, fmt.Errorf("clearing: write %s: %w", name, err)
	}
	return File{Name: name, Size: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil))}, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// fileSafe maps a code (provider, institution) to a file-name part: letters, digits,
// '-' and '_' stay; anything else becomes '_' followed by its hex byte.
func fileSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// The day's file names.
const (
	manifestName  = "MANIFEST"
	positionsName = "positions.csv"
	payoutName    = "payout.xml"
	reconName     = "reconciliation.csv"
)

func registerName(provider string) string { return "register-" + fileSafe(provider) + ".xml" }
func bankName(bank string) string         { return "bank-" + fileSafe(bank) + ".csv" }

// writeFiles writes the day's files into dayDir, the MANIFEST last, and removes files of
// an earlier run that this one did not write.
func (d *day) writeFiles(ctx context.Context, dayDir string, res *Result) error {
	if err := os.MkdirAll(dayDir, 0o755); err != nil {
		return err
	}
	var files []File
	add := func(name string, fn func(w io.Writer) error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := writeAtomic(dayDir, name, fn)
		if err == nil {
			files = append(files, f)
		}
		return err
	}
	for _, pp := range res.Providers {
		a := d.provs[pp.Provider]
		if err := add(registerName(pp.Provider), func(w io.Writer) error { return d.writeRegister(w, pp, a) }); err != nil {
			return err
		}
	}
	if hasPayout(res) {
		if err := add(payoutName, func(w io.Writer) error { return d.writePayout(w, res) }); err != nil {
			return err
		}
	}
	if err := add(positionsName, func(w io.Writer) error { return d.writePositions(w, res) }); err != nil {
		return err
	}
	for _, bank := range sortedKeys(d.banks) {
		if err := add(bankName(bank), func(w io.Writer) error { return d.writeBank(w, bank) }); err != nil {
			return err
		}
	}
	var mismatches []Mismatch
	if d.deps.Mismatches != nil {
		var err error
		if mismatches, err = d.deps.Mismatches.Mismatches(ctx, d.opts.Date); err != nil {
			return fmt.Errorf("clearing: reconciliation mismatches: %w", err)
		}
	}
	if err := add(reconName, func(w io.Writer) error { return d.writeRecon(w, mismatches) }); err != nil {
		return err
	}
	slices.SortFunc(files, func(x, y File) int { return strings.Compare(x.Name, y.Name) })
	if _, err := writeAtomic(dayDir, manifestName, func(w io.Writer) error {
		_, err := w.Write(manifest(d.opts.Date, files))
		return err
	}); err != nil {
		return err
	}
	// Files an earlier run wrote that this one did not (the inputs changed).
	entries, err := os.ReadDir(dayDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && n != manifestName && !slices.ContainsFunc(files, func(f File) bool { return f.Name == n }) {
			if err := os.Remove(filepath.Join(dayDir, n)); err != nil {
				return err
			}
		}
	}
	res.Dir, res.Files = dayDir, files
	if err := syncDir(dayDir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dayDir))
}

func manifest(date ledger.Date, files []File) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "billswitch clearing %s\n", isoDate(date))
	for _, f := range files {
		fmt.Fprintf(&b, "%s %d %s\n", f.SHA256, f.Size, f.Name)
	}
	return b.Bytes()
}

// Day is a finished clearing day on disk.
type Day struct {
	Date  ledger.Date
	Dir   string
	Files []File
}

// List returns the finished days under the clearing root dir (those whose MANIFEST was
// written), oldest first. A missing dir is no days.
func List(dir string) ([]Day, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Day
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		date, ok := parseISODate(e.Name())
		if !ok {
			continue
		}
		dd := filepath.Join(dir, e.Name())
		m, err := os.ReadFile(filepath.Join(dd, manifestName))
		if errors.Is(err, os.ErrNotExist) {
			continue // not finished
		}
		if err != nil {
			return nil, err
		}
		files, err := parseManifest(m, date)
		if err != nil {
			return nil, fmt.Errorf("clearing: %s: %w", dd, err)
		}
		out = append(out, Day{Date: date, Dir: dd, Files: files})
	}
	return out, nil // ReadDir sorts by name: YYYY-MM-DD is date order
}

func parseISODate(s string) (ledger.Date, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:4]+s[5:7]+s[8:], 10, 32)
	if err != nil || !ledger.Date(n).Valid() {
		return 0, false
	}
	return ledger.Date(n), true
}

func parseManifest(m []byte, date ledger.Date) ([]File, error) {
	lines := strings.Split(strings.TrimSuffix(string(m), "\n"), "\n")
	if len(lines) == 0 || lines[0] != "billswitch clearing "+isoDate(date) {
		return nil, errors.New("MANIFEST: bad first line")
	}
	var files []File
	for i, l := range lines[1:] {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("MANIFEST:%d: want sha256 size name", i+2)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || len(f[0]) != 64 {
			return nil, fmt.Errorf("MANIFEST:%d: bad size or hash", i+2)
		}
		files = append(files, File{Name: f[2], Size: size, SHA256: f[0]})
	}
	return files, nil
}
