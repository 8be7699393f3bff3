package billpay

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// TerminalProgress returns an ImportRequest.Progress (ImportFile's progress argument)
// that redraws one line on f — "import: validating 45% (270 of 600 MB)" — when f is a
// terminal, and does nothing otherwise (logs and pipes stay clean). total is the file's
// size in bytes.
func TerminalProgress(f *os.File, total int64) func(pass int, n int64) {
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func(int, int64) {}
	}
	return progressTo(f, total)
}

func progressTo(w io.Writer, total int64) func(pass int, n int64) {
	var mu sync.Mutex
	return func(pass int, n int64) {
		mu.Lock()
		defer mu.Unlock()
		what := "validating"
		if pass == 2 {
			what = "applying"
		}
		pct := int64(100)
		if total > 0 {
			pct = min(100, n*100/total)
		}
		fmt.Fprintf(w, "\rimport: %s %3d%% (%d of %d MB)", what, pct, n>>20, total>>20)
		if pass == 2 && n >= total {
			fmt.Fprintln(w)
		}
	}
}
