package clearing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/billswitch/billswitch/ledger"
)

// ErrRunning: another clearing of the same day holds its lock (in this process or
// another).
var ErrRunning = errors.New("clearing: a clearing of this day is already running")

// lockDay takes an exclusive advisory lock (flock) on dir/.lock-YYYY-MM-DD, so that two
// runs of one day never write the same files at once. The kernel drops the lock when
// the process dies, so a crashed run leaves nothing to clean up.
func lockDay(dir string, d ledger.Date) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock-"+isoDate(d)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrRunning, isoDate(d))
		}
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
