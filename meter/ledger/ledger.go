// Package ledger is the meter's crash-safe store on bbolt: call records
// (open and finished), the outbox of usage not yet acknowledged by the
// billing back end, the cached account and rates, recharges, and a balance
// journal from which monthly statements are made.
//
// Every method that changes state is one bbolt transaction, so a power cut
// leaves either all of it or none. The ledger stores; it does not price.
// It is safe for concurrent use.
package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is written once in the meta bucket; a file from another
// version is refused rather than misread.
const schemaVersion = "1"

// Bucket and key names.
const (
	bucketMeta      = "meta"      // schemaKey → schemaVersion
	bucketOpen      = "open"      // call ID → Record JSON, calls in progress
	bucketCalls     = "calls"     // call ID → Record JSON, finished calls
	bucketByStart   = "by_start"  // timeKey(Start) + ID → nothing: the order of the history
	bucketOutbox    = "outbox"    // sequence → call ID, finished calls not yet acknowledged
	bucketCache     = "cache"     // accountKey, ratesKey, ratesMetaKey
	bucketJournal   = "journal"   // timeKey(At) + sequence → Entry JSON
	bucketRecharges = "recharges" // recharge ID → Recharge JSON

	schemaKey    = "schema"
	accountKey   = "account"
	ratesKey     = "rates"
	ratesMetaKey = "rates_meta"
)

// bucketNames lists every bucket the schema has.
func bucketNames() []string {
	return []string{bucketMeta, bucketOpen, bucketCalls, bucketByStart, bucketOutbox,
		bucketCache, bucketJournal, bucketRecharges}
}

// tempInfix marks the name under which a new database file is built.
const tempInfix = ".creating-"

// DefaultTimeout is how long Open waits for another holder of the file.
const DefaultTimeout = time.Second

// Options configure Open. The zero value is ready to use.
type Options struct {
	Logger *slog.Logger
	// NoSync skips every fsync. For tests only: a power cut can then
	// corrupt the file.
	NoSync bool
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
}

// Ledger is an open ledger file.
type Ledger struct {
	db       *bolt.DB
	log      *slog.Logger
	path     string
	pageSize uint64

	commits atomic.Uint64
	written atomic.Uint64
	txNanos atomic.Uint64
}

// Stats count the ledger's writes since Open, so that the meter can report
// flash writes per minute.
type Stats struct {
	// Commits is the number of write transactions committed.
	Commits uint64
	// BytesWritten is what those commits wrote to the file: every page
	// bbolt allocated in the transaction (data, branches, freelist) plus
	// the meta page, times the page size.
	BytesWritten uint64
	// TxTime is the time spent in committed write transactions, fsync
	// included.
	TxTime time.Duration
	// FileSize is the size of the file now (0 if it cannot be read).
	FileSize int64
	// PageSize is bbolt's page size for this file.
	PageSize int
}

// Open opens the ledger at path, creating it safely if it does not exist.
// If another process holds the file, Open fails after opts.Timeout with an
// error that says so.
func Open(path string, opts Options) (*Ledger, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := createSafely(path, opts.NoSync, log); err != nil {
		return nil, fmt.Errorf("ledger: create %s: %w", path, err)
	}
	// NoFreelistSync: bbolt then rebuilds its freelist by scanning the
	// file at open (about 4 ms for 10,000 calls) instead of writing it
	// at every commit, which spares the flash one page in three or four
	// per checkpoint. etcd runs bbolt this way.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync, NoFreelistSync: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("ledger: %s is in use by another process (lock not obtained within %s)", path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	l := &Ledger{db: db, log: log, path: path, pageSize: uint64(db.Info().PageSize)}
	if err := l.checkSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	removeStaleTemps(path, log)
	return l, nil
}

// checkSchema refuses files of another schema version and adds buckets a
// file lacks (one made by hand or by a crash-free older build).
func (l *Ledger) checkSchema() error {
	complete := true
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, name := range bucketNames() {
			if tx.Bucket([]byte(name)) == nil {
				complete = false
			}
		}
		if m := tx.Bucket([]byte(bucketMeta)); m != nil {
			if v := m.Get([]byte(schemaKey)); v != nil && string(v) != schemaVersion {
				return fmt.Errorf("ledger: %s has schema version %q, this build reads %q", l.path, v, schemaVersion)
			}
		}
		return nil
	})
	if err != nil || complete {
		return err
	}
	if err := l.db.Update(initSchema); err != nil {
		return fmt.Errorf("ledger: initialise %s: %w", l.path, err)
	}
	return nil
}

func initSchema(tx *bolt.Tx) error {
	for _, name := range bucketNames() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("bucket %q: %w", name, err)
		}
	}
	m := tx.Bucket([]byte(bucketMeta))
	if m.Get([]byte(schemaKey)) == nil {
		return m.Put([]byte(schemaKey), []byte(schemaVersion))
	}
	return nil
}

// createSafely makes the database file if it does not exist. bbolt
// initialises a new file in place, and a power cut in the middle leaves a
// file it cannot open; so the file is built and synced under a temporary
// name in the same directory and then linked into place, and the directory
// is synced. Link, not rename, so that two processes racing to create the
// file cannot replace one another's.
func createSafely(path string, noSync bool, log *slog.Logger) error {
	replace := false
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() > 0:
		return nil
	case err == nil:
		// A zero-length file holds nothing; bbolt would initialise it
		// in place, which is what this function exists to avoid.
		log.Warn("ledger: replacing empty database file", "path", path)
		replace = true
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()

	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, NoSync: noSync})
	if err != nil {
		return err
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if !noSync {
		// bbolt fdatasyncs its pages; fsync also settles the inode.
		if err := syncPath(tmp); err != nil {
			return err
		}
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use theirs.
			err = nil
		} else if err != nil {
			// A file system without hard links: rename is still atomic,
			// only the create race above is no longer guarded.
			log.Debug("ledger: link failed, renaming", "err", err)
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		return err
	}
	_ = os.Remove(tmp)
	if noSync {
		return nil
	}
	return syncPath(dir)
}

func syncPath(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil {
		return fmt.Errorf("fsync %s: %w", name, serr)
	}
	return cerr
}

// removeStaleTemps deletes files a crash left while creating the ledger.
// It runs once the real file is open and locked, when no creation of it
// can still be in flight.
func removeStaleTemps(path string, log *slog.Logger) {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(filepath.Base(path))+tempInfix+"*"))
	if err != nil {
		return
	}
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			log.Info("ledger: removed file left by an interrupted creation", "path", m)
		}
	}
}

func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Close closes the file. Methods called afterwards return errors.
func (l *Ledger) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close %s: %w", l.path, err)
	}
	return nil
}

// Stats returns the write counters since Open.
func (l *Ledger) Stats() Stats {
	s := Stats{
		Commits:      l.commits.Load(),
		BytesWritten: l.written.Load(),
		TxTime:       time.Duration(l.txNanos.Load()),
		PageSize:     int(l.pageSize),
	}
	if fi, err := os.Stat(l.path); err == nil {
		s.FileSize = fi.Size()
	}
	return s
}

// errNoChange makes update roll back without error: the operation found
// nothing to do, and an empty commit would only wear the flash.
var errNoChange = errors.New("ledger: nothing to change")

// update runs fn in one write transaction and counts what the commit wrote.
func (l *Ledger) update(fn func(b *buckets) error) error {
	var done *bolt.Tx
	start := time.Now()
	err := l.db.Update(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		done = tx
		return fn(b)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	s := done.Stats()
	l.commits.Add(1)
	l.written.Add(uint64(s.GetPageAlloc()) + l.pageSize)
	l.txNanos.Add(uint64(time.Since(start)))
	return nil
}

// view runs fn in a read transaction.
func (l *Ledger) view(fn func(b *buckets) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		b, err := bucketsOf(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// buckets are the schema's buckets within one transaction.
type buckets struct {
	tx                                                        *bolt.Tx
	meta, open, calls, byStart, outbox, cache, journal, rchgs *bolt.Bucket
}

func bucketsOf(tx *bolt.Tx) (*buckets, error) {
	get := func(name string, dst **bolt.Bucket) error {
		*dst = tx.Bucket([]byte(name))
		if *dst == nil {
			return fmt.Errorf("ledger: bucket %q is missing", name)
		}
		return nil
	}
	b := &buckets{tx: tx}
	for _, x := range []struct {
		name string
		dst  **bolt.Bucket
	}{
		{bucketMeta, &b.meta}, {bucketOpen, &b.open}, {bucketCalls, &b.calls},
		{bucketByStart, &b.byStart}, {bucketOutbox, &b.outbox}, {bucketCache, &b.cache},
		{bucketJournal, &b.journal}, {bucketRecharges, &b.rchgs},
	} {
		if err := get(x.name, x.dst); err != nil {
			return nil, err
		}
	}
	return b, nil
}
