// Package progress is what the archiver and the restorer share to report
// how far a backup or a restore has come: the counts, and a steady pace
// to send them at.
package progress

import (
	"sync"
	"time"
)

// Report counts the files and bytes done so far and in all, and names
// the file at hand.
type Report struct {
	Files, FilesTotal int64
	Bytes, BytesTotal int64
	Path              string
}

// Every sends to the report read returns every d, one call at a time,
// until the returned stop is called: stop sends a last report (the final
// counts), and no report follows once it has returned. With a nil to it
// does nothing.
func Every(d time.Duration, to func(Report), read func() Report) (stop func()) {
	if to == nil {
		return func() {}
	}
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			to(read())
			t.Reset(d)
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
		to(read())
	}
}
