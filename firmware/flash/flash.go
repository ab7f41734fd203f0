// Package flash writes a disk image to an installer's SD card, eMMC or
// USB reader (or an image file), refuses the writes that would destroy
// the wrong disk, and proves the write by reading it back from the medium.
package flash

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// chunk is the unit of writing, progress and read-back comparison.
const chunk = 1 << 20

// defaultSyncEvery bounds how much the page cache may hold unwritten: the
// progress bar then shows the medium's speed, not the memory's, and the
// final fsync does not sit silent for minutes.
const defaultSyncEvery = 32 << 20

// Options says what to write where.
type Options struct {
	Image  string // raw disk image, or gzip-compressed (.gz or gzip magic)
	Target string // block device (/dev/sdb, /dev/mmcblk0, /dev/loop3) or, with AllowFile, a file

	// AllowFile lets Target be a regular file. An existing non-empty file
	// counts as a disk of its size (made with truncate -s 8G); a missing
	// or empty one is created to the image's size.
	AllowFile bool

	Host      Host      // where the safety checks look; zero: this system
	Progress  io.Writer // progress bar or lines; nil: none
	Terminal  bool      // Progress is a terminal: redraw one line
	SyncEvery int64     // bytes between fsyncs; 0: 32 MiB
	Logger    *slog.Logger

	// corrupt, in tests, changes the target between writing and reading
	// back.
	corrupt func(target string) error
}

// Result is what was written.
type Result struct {
	Target   string
	Bytes    int64
	SHA256   string // hex, of the (decompressed) image, equal to what was read back
	Duration time.Duration
}

// Flash writes o.Image to o.Target and reads it back. Everything that
// can be checked is checked before the first byte is written: the image
// decompresses, the target is a disk nobody uses, and it is big enough.
func Flash(ctx context.Context, o Options) (Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	img, err := openImage(o.Image)
	if err != nil {
		return Result{}, err
	}
	t, err := o.openTarget(img)
	if err != nil {
		return Result{}, err
	}
	log.Info("flash: writing", "image", o.Image, "bytes", img.size, "target", o.Target, "block_device", t.block)
	sums, sum, err := o.write(ctx, img, t)
	if cerr := t.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", o.Target, cerr)
	}
	if err != nil {
		return Result{}, err
	}
	if o.corrupt != nil {
		if err := o.corrupt(o.Target); err != nil {
			return Result{}, err
		}
	}
	if err := o.verify(ctx, t.block, img.size, sums); err != nil {
		return Result{}, err
	}
	res := Result{Target: o.Target, Bytes: img.size, SHA256: hex.EncodeToString(sum), Duration: time.Since(start)}
	log.Info("flash: verified", "target", o.Target, "sha256", res.SHA256, "duration", res.Duration)
	return res, nil
}

// image is an image file whose content size is known.
type image struct {
	path string
	gz   bool
	size int64 // bytes after decompression
}

// open returns the image's content from the start.
func (im image) open() (io.ReadCloser, error) {
	f, err := os.Open(im.path)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	if !im.gz {
		return f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s: %w", im.path, err)
	}
	return readCloser{zr, f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// openImage learns the content size. gzip's trailer holds the size only
// modulo 4 GiB, so a compressed image is decompressed once in full: that
// also proves it is intact before the card is erased.
func openImage(path string) (image, error) {
	f, err := os.Open(path)
	if err != nil {
		return image{}, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return image{}, fmt.Errorf("open image: %w", err)
	}
	if !st.Mode().IsRegular() {
		return image{}, fmt.Errorf("image %s is not a regular file", path)
	}
	magic := make([]byte, 2)
	n, _ := io.ReadFull(f, magic)
	im := image{path: path, size: st.Size(), gz: n == 2 && bytes.Equal(magic, []byte{0x1f, 0x8b})}
	if im.gz {
		r, err := im.open()
		if err != nil {
			return image{}, err
		}
		im.size, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return image{}, fmt.Errorf("image %s is damaged (download it again): %w", path, err)
		}
	}
	if im.size == 0 {
		return image{}, fmt.Errorf("image %s is empty", path)
	}
	return im, nil
}

// target is an open, checked target.
type target struct {
	f     *os.File
	block bool
}

func (o Options) openTarget(img image) (target, error) {
	st, err := os.Stat(o.Target)
	switch {
	case errors.Is(err, os.ErrNotExist) && o.AllowFile:
		f, err := os.OpenFile(o.Target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return target{}, fmt.Errorf("create %s: %w", o.Target, err)
		}
		return target{f: f}, nil
	case err != nil:
		return target{}, fmt.Errorf("target: %w", err)
	}
	if ist, err := os.Stat(img.path); err == nil && os.SameFile(st, ist) {
		return target{}, fmt.Errorf("target %s is the image itself", o.Target)
	}
	switch {
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		dev, err := blockDev(o.Target)
		if err != nil {
			return target{}, err
		}
		if err := o.Host.Check(dev); err != nil {
			return target{}, fmt.Errorf("%s: %w", o.Target, err)
		}
		// O_EXCL on a block device: the kernel refuses it while the
		// device is mounted or claimed, closing the race between the
		// check above and the first write.
		f, err := os.OpenFile(o.Target, os.O_WRONLY|os.O_EXCL, 0)
		if err != nil {
			return target{}, fmt.Errorf("open %s: %w (mounted or in use?)", o.Target, err)
		}
		size, err := f.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return target{}, fmt.Errorf("size of %s: %w", o.Target, err)
		}
		if size == 0 {
			f.Close()
			return target{}, fmt.Errorf("%s has no medium (size 0): insert the card", o.Target)
		}
		if img.size > size {
			f.Close()
			return target{}, fmt.Errorf("%w: %s needs %s, %s holds %s", ErrTooSmall, img.path, human(img.size), o.Target, human(size))
		}
		return target{f: f, block: true}, nil
	case st.Mode().IsRegular():
		if !o.AllowFile {
			return target{}, fmt.Errorf("%w: %s is a regular file; pass --allow-file to write an image file", ErrNotDisk, o.Target)
		}
		if st.Size() > 0 && img.size > st.Size() {
			return target{}, fmt.Errorf("%w: %s needs %s, %s holds %s", ErrTooSmall, img.path, human(img.size), o.Target, human(st.Size()))
		}
		f, err := os.OpenFile(o.Target, os.O_WRONLY, 0)
		if err != nil {
			return target{}, fmt.Errorf("open %s: %w", o.Target, err)
		}
		return target{f: f}, nil
	default:
		return target{}, fmt.Errorf("%w: %s is a %s", ErrNotDisk, o.Target, kind(st.Mode()))
	}
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// write copies the image and returns each chunk's sha256 and the whole
// image's.
func (o Options) write(ctx context.Context, img image, t target) ([][sha256.Size]byte, []byte, error) {
	r, err := img.open()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	every := o.SyncEvery
	if every <= 0 {
		every = defaultSyncEvery
	}
	p := newProgress(o.Progress, o.Terminal, "writing", img.size)
	whole := sha256.New()
	sums := make([][sha256.Size]byte, 0, img.size/chunk+1)
	buf := make([]byte, chunk)
	var done, synced int64
	for done < img.size {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("stopped after %s of %s: the target holds a partial image: %w", human(done), human(img.size), err)
		}
		n, err := io.ReadFull(r, buf[:min(int64(chunk), img.size-done)])
		if err != nil {
			return nil, nil, fmt.Errorf("read image at %d: %w", done, err)
		}
		if _, err := t.f.Write(buf[:n]); err != nil {
			return nil, nil, fmt.Errorf("write %s at %d: %w", o.Target, done, err)
		}
		whole.Write(buf[:n])
		sums = append(sums, sha256.Sum256(buf[:n]))
		done += int64(n)
		if done-synced >= every {
			if err := t.f.Sync(); err != nil {
				return nil, nil, fmt.Errorf("sync %s: %w", o.Target, err)
			}
			synced = done
		}
		p.update(done)
	}
	if err := t.f.Sync(); err != nil {
		return nil, nil, fmt.Errorf("sync %s: %w", o.Target, err)
	}
	p.finish(done)
	return sums, whole.Sum(nil), nil
}

// verify reads the image's length back from the target, after dropping
// what the kernel cached of it, and compares chunk by chunk; the first
// bad offset tells a worn card from a fake-capacity one. Every chunk
// matching its sum is the whole image matching: the read-back is not
// hashed a second time.
func (o Options) verify(ctx context.Context, block bool, size int64, sums [][sha256.Size]byte) error {
	f, err := os.Open(o.Target)
	if err != nil {
		return fmt.Errorf("open %s to verify: %w", o.Target, err)
	}
	defer f.Close()
	dropCache(f, block, size, o.Logger)
	p := newProgress(o.Progress, o.Terminal, "verifying", size)
	buf := make([]byte, chunk)
	var done int64
	for i := 0; done < size; i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verification stopped: %w", err)
		}
		n, err := io.ReadFull(f, buf[:min(int64(chunk), size-done)])
		if err != nil {
			return fmt.Errorf("%w: read %s at %d: %w", ErrVerify, o.Target, done, err)
		}
		if sha256.Sum256(buf[:n]) != sums[i] {
			return fmt.Errorf("%w: %s differs from the image in the MiB at offset %d (%s): the medium did not keep what was written; try another card", ErrVerify, o.Target, done, human(done))
		}
		done += int64(n)
		p.update(done)
	}
	p.finish(done)
	return nil
}

// dropCache makes the read-back come from the medium: BLKFLSBUF empties a
// block device's buffer cache, and DONTNEED drops a file's clean pages.
// Both are advice the kernel may decline; a failure is logged, not fatal.
func dropCache(f *os.File, block bool, size int64, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fd := int(f.Fd())
	if block {
		if err := unix.IoctlSetInt(fd, unix.BLKFLSBUF, 0); err != nil {
			log.Warn("flash: BLKFLSBUF failed; the read-back may come from the cache", "err", err)
		}
	}
	if err := unix.Fadvise(fd, 0, size, unix.FADV_DONTNEED); err != nil {
		log.Warn("flash: posix_fadvise DONTNEED failed", "err", err)
	}
}
