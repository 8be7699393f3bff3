package bills

import "sync"

// keyLocks serializes requests with the same §7 key while one of them waits for a
// processing centre, so that a 0201 sent while its 0200 is still being authorized never
// causes a second authorization: it waits, then finds the first one's outcome.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu  sync.Mutex
	ref int
}

func (k *keyLocks) lock(key []byte) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[string(key)]
	if l == nil {
		l = &keyLock{}
		k.m[string(key)] = l
	}
	l.ref++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.ref--; l.ref == 0 {
			delete(k.m, string(key))
		}
		k.mu.Unlock()
	}
}
