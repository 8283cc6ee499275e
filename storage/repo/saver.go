package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/backupbot/backupbot/storage/backend"
	"github.com/backupbot/backupbot/storage/crypto"
	"github.com/backupbot/backupbot/storage/pack"
)

// DefaultPackSize is the most a pack holds before it is closed and
// uploaded (a single larger blob gets a pack of its own).
const DefaultPackSize = 12 << 20

// DefaultUploads is the number of packs written to the backend at once
// unless NewSaver is told otherwise. The saver keeps Uploads+1 data pack
// buffers: one being filled, the rest being uploaded; that bounds its memory.
const DefaultUploads = 2

// SaverStats counts what a Saver added to the repository.
type SaverStats struct {
	Blobs      int64 // new blobs
	RawBytes   int64 // their plaintext size
	BlobBytes  int64 // their stored (compressed, sealed) size
	PackBytes  int64 // bytes of the packs written, headers included
	IndexBytes int64 // bytes of the index files written
	Packs      int64
	// Time spent compressing (Compressed blobs), sealing (Blobs) and
	// uploading (Packs), summed over the goroutines doing it.
	Compressed                            int64
	CompressTime, EncryptTime, UploadTime time.Duration
}

// Saver stores new blobs in packs. Use Reserve to claim a blob ID, Save to
// store a claimed blob, and Flush once at the end: it uploads the last
// packs and writes the index file that makes the blobs part of the
// repository. Safe for concurrent use.
type Saver struct {
	r        *Repository
	ctx      context.Context
	cancel   context.CancelFunc
	packSize int

	// mu guards the claimed IDs, the packs being filled and the blob
	// counters; uploaders never take it, so Save may block on the upload
	// queue while holding it.
	mu      sync.Mutex
	pending map[ID]struct{}
	cur     [2]*pack.Writer
	stats   SaverStats

	doneMu  sync.Mutex // guards done, tried, index and the pack counters in stats
	done    []PackEntry
	tried   []ID // every pack this saver began to store, stored or not
	adopted []PackEntry
	index   []ID // the index files Flush wrote

	errMu sync.Mutex
	err   error

	free      chan []byte
	queue     chan *pack.Writer
	closeOnce sync.Once
	wg        sync.WaitGroup

	bufs sync.Pool
}

// SaverOptions tune a Saver; zero fields take the defaults.
type SaverOptions struct {
	PackSize int // DefaultPackSize
	Uploads  int // DefaultUploads; a local disk needs only 1
}

// NewSaver starts a saver; its uploads stop when ctx is cancelled.
func (r *Repository) NewSaver(ctx context.Context, opts SaverOptions) *Saver {
	if opts.PackSize <= 0 {
		opts.PackSize = DefaultPackSize
	}
	if opts.Uploads <= 0 {
		opts.Uploads = DefaultUploads
	}
	buffers := opts.Uploads + 1
	ctx, cancel := context.WithCancel(ctx)
	s := &Saver{r: r, ctx: ctx, cancel: cancel, packSize: opts.PackSize, pending: map[ID]struct{}{},
		queue: make(chan *pack.Writer, buffers), free: make(chan []byte, buffers)}
	for range buffers {
		s.free <- nil // allocated on first use
	}
	for range opts.Uploads {
		s.wg.Go(s.uploader)
	}
	return s
}

// Reserve returns true when the blob is neither in the repository nor
// claimed by this saver; the caller must then Save it.
func (s *Saver) Reserve(id ID) bool { return !s.known(id, true) }

// Known reports whether the blob is stored or claimed.
func (s *Saver) Known(id ID) bool { return s.known(id, false) }

// known reports whether the blob is stored or claimed; when it is neither
// and claim is set, it claims it.
func (s *Saver) known(id ID, claim bool) bool {
	if s.r.Index.Has(id) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[id]
	if !ok && claim {
		s.pending[id] = struct{}{}
	}
	return ok
}

// Save compresses (when compress is set and it pays), seals and packs a
// reserved blob. It returns the blob's stored size.
func (s *Saver) Save(t pack.BlobType, id ID, data []byte, compress bool) (int, error) {
	if err := s.failed(); err != nil {
		return 0, err
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 1<<20)
		bp = &b
	}
	defer s.bufs.Put(bp)
	plain := data
	compressed := false
	var compressTime time.Duration
	if compress && len(data) > 32 && s.r.worthCompressing(data) {
		t := time.Now()
		c := s.r.compress(data, (*bp)[:0])
		compressTime = time.Since(t)
		if len(c) < len(data)-len(data)/64 {
			plain, compressed = c, true
		}
		*bp = c[:0]
	}
	size := len(plain) + s.r.sealer.Overhead()

	s.mu.Lock()
	defer s.mu.Unlock()
	var w *pack.Writer
	for w == nil {
		cur := s.cur[t]
		switch {
		// The header counts toward the pack's size, so the pack buffer's
		// slack always holds the sealed header (no copy of the pack at
		// Finish, however small its blobs).
		case cur != nil && cur.Count() > 0 && cur.Size()+size+cur.HeaderSize()+pack.EntrySize > s.packSize:
			s.cur[t] = nil
			if err := s.send(cur); err != nil {
				return 0, err
			}
		case cur != nil:
			w = cur
		default:
			nw, err := s.newWriter(t) // may wait for a free buffer, unlocking s.mu
			if err != nil {
				return 0, err
			}
			if s.cur[t] != nil { // another Save installed one meanwhile
				if t == pack.DataBlob {
					s.free <- nw.Buffer()
				}
				continue
			}
			s.cur[t] = nw
		}
	}
	sealStart := time.Now()
	w.Append(t, id, len(data), compressed, func(dst []byte) []byte { return s.r.sealer.Seal(dst, plain) })
	s.stats.EncryptTime += time.Since(sealStart)
	if compressTime > 0 {
		s.stats.CompressTime += compressTime
		s.stats.Compressed++
	}
	s.stats.Blobs++
	s.stats.RawBytes += int64(len(data))
	s.stats.BlobBytes += int64(size)
	return size, nil
}

// newWriter takes a free pack buffer, waiting while all are in use. Tree
// packs are small and get their own growing buffer. Called with s.mu held.
func (s *Saver) newWriter(t pack.BlobType) (*pack.Writer, error) {
	if t == pack.TreeBlob {
		return pack.NewWriter(make([]byte, 0, 256<<10)), nil
	}
	s.mu.Unlock()
	defer s.mu.Lock()
	select {
	case buf := <-s.free:
		if cap(buf) < s.packSize+crypto.Overhead {
			buf = make([]byte, 0, s.packSize+64<<10)
		}
		return pack.NewWriter(buf), nil
	case <-s.ctx.Done():
		return nil, s.ctxErr()
	}
}

// send queues a full pack for upload. Called with s.mu held.
func (s *Saver) send(w *pack.Writer) error {
	select {
	case s.queue <- w:
		return nil
	case <-s.ctx.Done():
		return s.ctxErr()
	}
}

func (s *Saver) ctxErr() error {
	if err := s.failed(); err != nil {
		return err
	}
	return s.ctx.Err()
}

// smallBlob is the size below which blobs get the fastest zstd level:
// for small inputs the default level spends most of its time setting up
// its tables, for about the same ratio.
const smallBlob = 256 << 10

// compress appends the zstd form of data to dst.
func (r *Repository) compress(data, dst []byte) []byte {
	if len(data) < smallBlob {
		return r.encFast.EncodeAll(data, dst)
	}
	return r.enc.EncodeAll(data, dst)
}

// worthCompressing samples large blobs so that random data (media,
// archives, encrypted files) skips the compressor.
func (r *Repository) worthCompressing(data []byte) bool {
	const sample = 16 << 10
	if len(data) < 4*sample {
		return true
	}
	mid := len(data)/2 - sample/2
	var tmp [sample + 1024]byte
	c := r.encFast.EncodeAll(data[mid:mid+sample], tmp[:0])
	return len(c) < sample-sample/32
}

func (s *Saver) failed() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Saver) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.cancel()
}

func (s *Saver) uploader() {
	for w := range s.queue {
		data, isData, err := s.upload(w)
		if err != nil {
			s.fail(err)
		}
		if isData {
			s.free <- data[:0] // the buffer's own slot: never blocks
		}
	}
}

// upload finishes and stores one pack; it returns the pack's buffer and
// whether it came from the data buffers.
func (s *Saver) upload(w *pack.Writer) ([]byte, bool, error) {
	data, id, blobs := w.Finish(s.r.sealer)
	isData := len(blobs) > 0 && blobs[0].Type == pack.DataBlob
	if err := s.ctx.Err(); err != nil {
		return data, isData, err
	}
	s.doneMu.Lock()
	s.tried = append(s.tried, id)
	s.doneMu.Unlock()
	start := time.Now()
	if err := s.r.be.Put(s.ctx, PackKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
		return data, isData, fmt.Errorf("writing pack %s: %w", id.Short(), err)
	}
	took := time.Since(start)
	s.doneMu.Lock()
	s.stats.UploadTime += took
	s.done = append(s.done, PackEntry{ID: id, Size: int64(len(data)), Blobs: blobs})
	s.stats.PackBytes += int64(len(data))
	s.stats.Packs++
	s.doneMu.Unlock()
	return data, isData, nil
}

// Flush uploads the packs still open, waits for every upload, writes one
// index file for all the packs this saver wrote and adds them to the
// repository's index. The saver cannot be used afterwards.
func (s *Saver) Flush(ctx context.Context) (SaverStats, error) {
	s.mu.Lock()
	rest := make([]*pack.Writer, 0, 2)
	for t, w := range s.cur {
		if w != nil && w.Count() > 0 {
			rest = append(rest, w)
		}
		s.cur[t] = nil
	}
	for _, w := range rest {
		if s.send(w) != nil {
			break
		}
	}
	s.mu.Unlock()
	s.closeQueue()
	defer s.cancel()
	if err := s.failed(); err != nil {
		return s.stats, err
	}
	if err := ctx.Err(); err != nil {
		return s.stats, err
	}
	if len(s.done)+len(s.adopted) > 0 {
		packs := append(append(make([]PackEntry, 0, len(s.done)+len(s.adopted)), s.done...), s.adopted...)
		ids, n, err := s.r.saveIndex(ctx, packs)
		s.doneMu.Lock()
		s.index = ids
		s.doneMu.Unlock()
		if err != nil {
			return s.stats, err
		}
		s.stats.IndexBytes = n
		for _, p := range packs {
			s.r.Index.Add(p)
		}
	}
	return s.stats, nil
}

// IndexStored writes an index file for the packs this saver stored (and
// adopted) when its backup stops short of a snapshot for a reason a retry
// can fix (a crash aside: cancelled, handed back, a transient storage
// failure), so the next backup deduplicates onto them through the index.
// Call it after Abort; it returns how many packs the index lists.
func (s *Saver) IndexStored(ctx context.Context) (int, error) {
	s.closeQueue()
	s.doneMu.Lock()
	packs := append(append(make([]PackEntry, 0, len(s.done)+len(s.adopted)), s.done...), s.adopted...)
	written := s.index != nil
	s.doneMu.Unlock()
	if len(packs) == 0 || written {
		return 0, nil
	}
	ids, _, err := s.r.saveIndex(ctx, packs)
	s.doneMu.Lock()
	s.index = ids
	s.doneMu.Unlock()
	if err != nil {
		return 0, err
	}
	for _, p := range packs {
		s.r.Index.Add(p)
	}
	return len(packs), nil
}

// Adopt makes the index file Flush writes list packs an interrupted
// backup left unindexed (see Repository.AdoptUnindexed), so they become
// part of the repository with this backup. Call it before Flush.
func (s *Saver) Adopt(packs []PackEntry) {
	s.doneMu.Lock()
	s.adopted = append(s.adopted, packs...)
	s.doneMu.Unlock()
}

// Discard removes what this saver stored, after a failure that a retry
// cannot fix (a full disk, refused credentials): the index file Flush
// wrote, if any, then every pack this saver uploaded. Packs it adopted
// stay (another attempt stored them, and the next backup can adopt them
// again). Call it after Abort or a failed Flush, while still holding the
// repository lock: until the lock is released no other backup adopts
// these packs (AdoptUnindexed skips packs younger than a live lock), so
// none can depend on them. It returns how many packs it deleted.
func (s *Saver) Discard(ctx context.Context) (int, error) {
	s.closeQueue()
	s.doneMu.Lock()
	index, tried := s.index, append([]ID(nil), s.tried...)
	s.doneMu.Unlock()
	var errs []error
	for _, id := range index {
		err := s.r.be.Delete(ctx, indexPrefix+id.String())
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			// Packs an index still lists must stay.
			return 0, fmt.Errorf("removing index %s of the failed backup: %w", id.Short(), err)
		}
	}
	if len(index) > 0 {
		s.r.Index.Reset() // it listed the packs removed below; reload on next use
	}
	n := 0
	for _, id := range tried {
		err := s.r.be.Delete(ctx, PackKey(id))
		switch {
		case err == nil:
			n++
		case errors.Is(err, backend.ErrNotFound): // its upload failed: nothing stored
		default:
			errs = append(errs, fmt.Errorf("removing pack %s of the failed backup: %w", id.Short(), err))
		}
	}
	return n, errors.Join(errs...)
}

// Abort stops uploads; packs already written stay as unreferenced garbage.
func (s *Saver) Abort() {
	s.cancel()
	s.mu.Lock()
	s.cur = [2]*pack.Writer{}
	s.mu.Unlock()
	s.closeQueue()
}

// closeQueue stops the uploaders once they have drained the queue.
func (s *Saver) closeQueue() {
	s.closeOnce.Do(func() { close(s.queue) })
	s.wg.Wait()
}

// PackKey is the backend key of a pack: data/<first two hex digits>/<id>.
func PackKey(id ID) string {
	h := id.String()
	return dataPrefix + h[:2] + "/" + h
}

// hasherPool lends blob hashers for checks on load.
type hasherPool struct {
	key  []byte
	pool sync.Pool
}

func (p *hasherPool) get() *crypto.Hasher {
	if h, ok := p.pool.Get().(*crypto.Hasher); ok {
		return h
	}
	return crypto.NewHasher(p.key)
}

func (p *hasherPool) put(h *crypto.Hasher) { p.pool.Put(h) }
