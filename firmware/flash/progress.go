package flash

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a bar on a terminal (one line, redrawn at most five
// times a second) or, into a log or a pipe, a plain line every 10%.
type progress struct {
	w        io.Writer
	tty      bool
	label    string
	total    int64
	now      func() time.Time
	start    time.Time
	lastDraw time.Time
	lastTen  int64 // last tenth printed, plain mode
}

func newProgress(w io.Writer, tty bool, label string, total int64) *progress {
	p := &progress{w: w, tty: tty, label: label, total: total, now: time.Now}
	p.start = p.now()
	return p
}

func (p *progress) update(done int64) {
	if p.w == nil || p.total <= 0 {
		return
	}
	if p.tty {
		now := p.now()
		if now.Sub(p.lastDraw) < 200*time.Millisecond && done < p.total {
			return
		}
		p.lastDraw = now
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(done, true))
		return
	}
	tenth := done * 10 / p.total
	if tenth > p.lastTen && done < p.total {
		p.lastTen = tenth
		fmt.Fprintln(p.w, p.line(done, false))
	}
}

func (p *progress) finish(done int64) {
	if p.w == nil {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(done, true))
		return
	}
	fmt.Fprintln(p.w, p.line(done, false))
}

// line is "writing [=====>    ]  45%  115.2 MiB of 256.0 MiB  18.2 MiB/s  ETA 0:07".
func (p *progress) line(done int64, bar bool) string {
	el := p.now().Sub(p.start)
	pct := done * 100 / p.total
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	tail := "ETA --:--"
	if done >= p.total {
		tail = "done in " + clock(el)
	} else if rate > 0 {
		tail = "ETA " + clock(time.Duration(float64(p.total-done)/rate*float64(time.Second)))
	}
	var b strings.Builder
	b.WriteString(p.label)
	if bar {
		const width = 30
		fill := int(done * width / p.total)
		b.WriteString(" [")
		b.WriteString(strings.Repeat("=", fill))
		if fill < width {
			b.WriteString(">")
			b.WriteString(strings.Repeat(" ", width-fill-1))
		}
		b.WriteString("]")
	} else {
		b.WriteString(":")
	}
	fmt.Fprintf(&b, " %3d%%  %s of %s  %s/s  %s", pct, human(done), human(p.total), human(int64(rate)), tail)
	return b.String()
}

// clock is m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// human is a byte count in binary units, as card makers' "GB" are not.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
