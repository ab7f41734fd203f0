package flash

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// makeImage writes n pseudo-random bytes (not a multiple of the chunk,
// so the short last chunk is exercised) and returns its path and content.
func makeImage(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFlashToFileWritesAndVerifies(t *testing.T) {
	img, content := makeImage(t, 3*chunk+12345)
	dst := filepath.Join(t.TempDir(), "card.img")
	var prog bytes.Buffer
	res, err := Flash(context.Background(), Options{Image: img, Target: dst, AllowFile: true, Progress: &prog, SyncEvery: chunk})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatal("the target does not hold the image")
	}
	if res.SHA256 != sum(content) || res.Bytes != int64(len(content)) {
		t.Errorf("result %+v; want %d bytes, sha256 %s", res, len(content), sum(content))
	}
	out := prog.String()
	for _, want := range []string{"writing:", "verifying:", "100%", "3.0 MiB of 3.0 MiB", "/s", "done in"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress into a non-terminal redraws lines:\n%q", out)
	}
}

func TestFlashIntoLargerFileKeepsItsSize(t *testing.T) {
	img, content := makeImage(t, chunk+1)
	dst := filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(dst, bytes.Repeat([]byte{0xee}, 3*chunk), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Flash(context.Background(), Options{Image: img, Target: dst, AllowFile: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if len(got) != 3*chunk || !bytes.Equal(got[:len(content)], content) || got[len(content)] != 0xee {
		t.Errorf("target is %d bytes, image at the start: %v; want the 3 MiB card with the image in front", len(got), bytes.Equal(got[:len(content)], content))
	}
}

func TestFlashGzipImage(t *testing.T) {
	_, content := makeImage(t, 2*chunk+3)
	gz := filepath.Join(t.TempDir(), "disk.img.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(content)
	zw.Close()
	if err := os.WriteFile(gz, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "card.img")
	res, err := Flash(context.Background(), Options{Image: gz, Target: dst, AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) || res.SHA256 != sum(content) {
		t.Fatal("the target does not hold the decompressed image")
	}

	// A download cut short is refused before anything is written.
	cut := filepath.Join(t.TempDir(), "cut.img.gz")
	os.WriteFile(cut, b.Bytes()[:b.Len()/2], 0o644)
	dst2 := filepath.Join(t.TempDir(), "card2.img")
	_, err = Flash(context.Background(), Options{Image: cut, Target: dst2, AllowFile: true})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("truncated gzip: %v; want a damaged-image error", err)
	}
	if _, serr := os.Stat(dst2); serr == nil {
		t.Error("a target was created for a damaged image")
	}
}

func TestFlashDetectsCorruptReadBack(t *testing.T) {
	img, _ := makeImage(t, 4*chunk)
	dst := filepath.Join(t.TempDir(), "card.img")
	o := Options{Image: img, Target: dst, AllowFile: true}
	o.corrupt = func(target string) error {
		f, err := os.OpenFile(target, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1)
		f.ReadAt(b, 2*chunk+5)
		b[0] ^= 0x40
		_, err = f.WriteAt(b, 2*chunk+5)
		return err
	}
	_, err := Flash(context.Background(), o)
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("corrupted read-back: %v; want ErrVerify", err)
	}
	if !strings.Contains(err.Error(), "offset 2097152") {
		t.Errorf("error does not say where: %v", err)
	}
}

func TestFlashRefusals(t *testing.T) {
	img, _ := makeImage(t, 2*chunk)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.img")
	os.WriteFile(small, make([]byte, chunk), 0o644)
	plain := filepath.Join(dir, "plain.img")
	os.WriteFile(plain, nil, 0o644)
	empty := filepath.Join(dir, "empty.img")
	os.WriteFile(empty, nil, 0o644)
	for _, tc := range []struct {
		name string
		o    Options
		is   error
		msg  string
	}{
		{"larger than the target", Options{Image: img, Target: small, AllowFile: true}, ErrTooSmall, "holds 1.0 MiB"},
		{"file without --allow-file", Options{Image: img, Target: plain}, ErrNotDisk, "--allow-file"},
		{"directory", Options{Image: img, Target: dir, AllowFile: true}, ErrNotDisk, "directory"},
		{"character device", Options{Image: img, Target: "/dev/null", AllowFile: true}, ErrNotDisk, "character device"},
		{"image onto itself", Options{Image: img, Target: img, AllowFile: true}, nil, "the image itself"},
		{"empty image", Options{Image: empty, Target: filepath.Join(dir, "x"), AllowFile: true}, nil, "is empty"},
		{"missing image", Options{Image: filepath.Join(dir, "none"), Target: filepath.Join(dir, "y"), AllowFile: true}, os.ErrNotExist, "open image"},
	} {
		_, err := Flash(context.Background(), tc.o)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %v with %q", tc.name, err, tc.is, tc.msg)
		}
	}
	if b, _ := os.ReadFile(small); !bytes.Equal(b, make([]byte, chunk)) {
		t.Error("the too-small target was written")
	}
}

func TestFlashStopsWhenCancelled(t *testing.T) {
	img, _ := makeImage(t, 2*chunk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Flash(ctx, Options{Image: img, Target: filepath.Join(t.TempDir(), "c.img"), AllowFile: true})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "partial image") {
		t.Fatalf("cancelled flash: %v", err)
	}
}

func TestProgressOnTerminal(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progress{w: &b, tty: true, label: "writing", total: 100 << 20, now: func() time.Time { return now }}
	p.start = now
	now = now.Add(5 * time.Second)
	p.update(50 << 20)
	line := b.String()
	for _, want := range []string{"\rwriting [===============>", " 50%", "50.0 MiB of 100.0 MiB", "10.0 MiB/s", "ETA 0:05"} {
		if !strings.Contains(line, want) {
			t.Errorf("bar %q lacks %q", line, want)
		}
	}
	b.Reset()
	now = now.Add(50 * time.Millisecond)
	p.update(51 << 20)
	if b.Len() != 0 {
		t.Errorf("redrawn after 50 ms: %q", b.String())
	}
	now = now.Add(5 * time.Second)
	p.finish(100 << 20)
	if !strings.HasSuffix(b.String(), "\n") || !strings.Contains(b.String(), "done in 0:10") {
		t.Errorf("final bar %q", b.String())
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 8 << 30: "8.0 GiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
	if got := clock(3725 * time.Second); got != "1:02:05" {
		t.Errorf("clock = %q", got)
	}
}
