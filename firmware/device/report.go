package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/tipring/tipring/firmware/api"
)

// traceSIP keeps a SIP message for the bundle's sip-trace.txt.
func (d *Device) traceSIP(dir, peer string, raw []byte) {
	if dir == "send" {
		dir = "sent"
	} else {
		dir = "received"
	}
	d.trace.Add(time.Now(), dir, peer, raw)
}

// ticketDigits is the length of the ticket the device makes up: short
// enough to say and to type, and unique enough among one provider's open
// tickets once support matches it with the account number.
const ticketDigits = 6

// report answers the handset's report code on port: it makes a bundle,
// sends it to [diag] support_url and returns the ticket to speak. The
// device makes the ticket up and sends it with the bundle, so any web
// server that stores uploads will do; a server that answers with a ticket
// of its own ({"ticket":"123456"}) wins.
func (d *Device) report(ctx context.Context, port int) (string, error) {
	dest := d.cfg.Diag.SupportURL
	if dest == "" {
		return "", errors.New("report: no [diag] support_url is configured")
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("report: ticket: %w", err)
	}
	ticket := fmt.Sprintf("%0*d", ticketDigits, n.Int64())
	bundle, err := d.Bundle(ctx, api.BundleOptions{
		Problem: fmt.Sprintf("sent from the handset on port %d (ticket %s)", port, ticket),
	})
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, bytes.NewReader(bundle))
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	req.Header.Set("Content-Type", "application/gzip")
	req.Header.Set("X-Tipring-Ticket", ticket)
	req.Header.Set("X-Tipring-Account", d.cfg.Meter.Account)
	req.Header.Set("X-Tipring-Firmware", d.opts.Version)
	client := &http.Client{
		// The bundle goes where it was configured to go, nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("report: %s answered %s", dest, resp.Status)
	}
	var answer struct {
		Ticket string `json:"ticket"`
	}
	if json.Unmarshal(body, &answer) == nil && validTicket(answer.Ticket) {
		ticket = answer.Ticket
	}
	d.log.Info("diagnostics bundle sent to support", "port", port, "ticket", ticket, "bytes", len(bundle))
	return ticket, nil
}

// validTicket accepts what the handset can speak: 1 to 12 digits.
func validTicket(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
