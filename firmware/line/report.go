package line

import (
	"context"
	"strings"
	"time"

	"github.com/tipring/tipring/firmware/prompts"
)

// reportTimeout bounds collecting and uploading a report: the customer is
// holding the handset meanwhile.
const reportTimeout = 30 * time.Second

// report is what sending a report came to.
type report struct {
	ticket string
	err    error
}

// starCode returns what a complete device code does, or nil when digits is
// not one.
func (l *Line) starCode(digits string) func() {
	switch {
	case digits == l.cfg.BalanceCode:
		return l.speakBalance
	case l.cfg.Report != nil && digits == l.cfg.ReportCode:
		return l.sendReport
	}
	return nil
}

// starCodePrefix reports whether digits could still become a device code.
func (l *Line) starCodePrefix(digits string) bool {
	return strings.HasPrefix(l.cfg.BalanceCode, digits) ||
		(l.cfg.Report != nil && strings.HasPrefix(l.cfg.ReportCode, digits))
}

// sendReport answers the report code: it says to wait, sends the report in
// the background and speaks the ticket when the upload is done.
func (l *Line) sendReport() {
	l.stopTimer()
	l.cfg.Port.StopTone()
	l.setState(Announcing)
	if l.reporting {
		// One report at a time; the one running will be spoken about.
		return
	}
	l.reporting = true
	l.playPrompt([]string{prompts.SendingReport}, func() {})
	ctx, cancel := context.WithTimeout(l.runCtx, reportTimeout)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel()
		ticket, err := l.cfg.Report(ctx)
		select {
		case l.reportDone <- report{ticket: ticket, err: err}:
		case <-l.runCtx.Done():
		}
	}()
}

// onReportDone speaks the ticket (or the failure) if the customer is still
// listening, then gives dial tone back.
func (l *Line) onReportDone(r report) {
	l.reporting = false
	if r.err != nil {
		l.log.Warn("diagnostics report not sent", "err", r.err)
	} else {
		l.log.Info("diagnostics report sent", "ticket", r.ticket)
	}
	if l.state != Announcing || !l.cfg.Port.OffHook() {
		return
	}
	keys := []string{prompts.ReportFailed}
	if r.err == nil {
		keys = prompts.ReportSentSentence(r.ticket)
	}
	l.stopPrompt()
	l.playPrompt(keys, l.dialTone)
}
