package update

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tipring/tipring/firmware/image"
)

// BenchmarkInstall is an install on the sim board: a 10 MB binary and
// 400 KB of prompts, gzipped, verified and written with every fsync.
func BenchmarkInstall(b *testing.B) {
	bin := make([]byte, 10<<20)
	_, _ = rand.Read(bin[:1<<20]) // some of it incompressible, as code is
	fsys := fstest.MapFS{
		"tipring":         {Data: bin, Mode: 0o755},
		"prompts/all.ul":  {Data: bytes.Repeat([]byte{0xff}, 400<<10), Mode: 0o644},
		"prompts/VERSION": {Data: []byte("1\n"), Mode: 0o644},
	}
	var img bytes.Buffer
	if _, err := image.Pack(&img, fsys, image.PackOptions{Board: "sim", Version: "1.0.0", Built: time.Now(), Key: testKey, Gzip: true}); err != nil {
		b.Fatal(err)
	}
	u := newUpdater(b, b.TempDir(), nil)
	b.SetBytes(int64(img.Len()))
	b.ResetTimer()
	for b.Loop() {
		if _, err := u.Install(context.Background(), bytes.NewReader(img.Bytes()), true); err != nil {
			b.Fatal(err)
		}
	}
}
