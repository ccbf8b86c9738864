package loop

import (
	"crypto/tls"
	"os"
	"sync"
	"time"
)

// keyPair is a certificate and key read from PEM files, read again when
// either file's modification time or size changes, as cert-manager and
// kubelet rotate a mounted Secret.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// recheck is how often the files are looked at again, at most.
const recheck = 10 * time.Second

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// get returns the pair, read again when the files changed; a pair that no
// longer loads keeps the last good one in service.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && time.Since(k.checked) < recheck {
		return k.cert, nil
	}
	k.checked = time.Now()
	cs, err1 := stampOf(k.certFile)
	ks, err2 := stampOf(k.keyFile)
	if k.cert != nil && (err1 != nil || err2 != nil || [2]fileStamp{cs, ks} == k.stamp) {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	k.cert, k.stamp = &c, [2]fileStamp{cs, ks}
	return k.cert, nil
}
