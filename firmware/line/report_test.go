package line

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tipring/tipring/firmware/prompts"
)

// reportRig is a line whose report function answers from the test: the
// report code's upload can then be slow, fail or succeed on cue.
func reportRig(t *testing.T) (*rig, *ear, chan report) {
	answers := make(chan report)
	p := &fakePrompts{keys: prompts.Keys()}
	r := newRig(t, true, func(c *Config) {
		c.Prompts = p
		c.Report = func(ctx context.Context) (string, error) {
			select {
			case a := <-answers:
				return a.ticket, a.err
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	})
	return r, listen(t, r, p), answers
}

func TestReportCodeSpeaksTheTicketThenDialTone(t *testing.T) {
	r, e, answers := reportRig(t)
	r.port.hook(true)
	r.hears("dial")
	r.port.dial("*47")
	r.eventually("please wait", func() bool { return e.has(prompts.SendingReport) })
	answers <- report{ticket: "4821"}
	r.eventually("the ticket", func() bool { return e.has(prompts.ReportSent) && e.has("n_1") })
	r.hears("dial")
	e.mu.Lock()
	got := slices.Compact(slices.Clone(e.heard))
	e.mu.Unlock()
	want := []string{prompts.SendingReport, prompts.ReportSent, "n_4", "n_8", "n_2", "n_1"}
	if !slices.Equal(got, want) {
		t.Errorf("heard %q, want %q", got, want)
	}
	if n, _ := r.sig.last(); n != "" {
		t.Fatalf("the report code was dialled as %q", n)
	}
}

func TestReportFailureIsSaid(t *testing.T) {
	r, e, answers := reportRig(t)
	r.port.hook(true)
	r.port.dial("*47")
	answers <- report{err: errors.New("support server answered 503")}
	r.eventually("the failure", func() bool { return e.has(prompts.ReportFailed) })
	r.hears("dial")
}

func TestHangingUpDuringAReportLeavesTheLineIdle(t *testing.T) {
	r, e, answers := reportRig(t)
	r.port.hook(true)
	r.port.dial("*47")
	r.eventually("please wait", func() bool { return e.has(prompts.SendingReport) })
	r.port.hook(false)
	r.inState(Idle)
	answers <- report{ticket: "77"}
	r.port.hook(true)
	r.hears("dial")
	if e.has(prompts.ReportSent) {
		t.Error("the ticket was spoken to a phone that had hung up and come back")
	}
}
