package billpay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := progressTo(&b, 600<<20)
	p(1, 270<<20)
	p(2, 600<<20)
	if got := b.String(); got != "\rimport: validating  45% (270 of 600 MB)\rimport: applying 100% (600 of 600 MB)\n" {
		t.Fatalf("%q", got)
	}
	// Not a terminal: nothing is written.
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	TerminalProgress(f, 100)(1, 50)
	data, _ := os.ReadFile(f.Name())
	if strings.Contains(string(data), "import") {
		t.Fatal("progress written to a file")
	}
}
