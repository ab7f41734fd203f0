package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tipring/tipring/diag"
	"github.com/tipring/tipring/firmware/api"
)

func diagCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "bundle" {
		return usageErr("want: tipring diag bundle -o FILE [--anonymize] [--phone MAKE-MODEL] [--problem TEXT]")
	}
	cmd := newAPICommand("diag bundle", "unused", stderr)
	out := cmd.fs.String("o", "tipring-diag.tar.gz", "where to write the bundle")
	anon := cmd.fs.Bool("anonymize", false, "replace phone numbers by tokens")
	phone := cmd.fs.String("phone", "", "make and model of the telephone")
	problem := cmd.fs.String("problem", "", "the problem, in the customer's words")
	c, err := cmd.parse(args[1:])
	if err != nil {
		return err
	}
	start := time.Now()
	stop := showProgress(stderr, start)
	b, err := c.Bundle(ctx, api.BundleOptions{Anonymize: *anon, Phone: *phone, Problem: *problem})
	stop()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	printSections(stderr, b)
	fmt.Fprintf(stdout, "wrote %s (%d bytes) in %v; summary.txt inside answers the support checklist\n", *out, len(b), time.Since(start).Round(time.Millisecond))
	return nil
}

// showProgress tells the person waiting that the device is collecting:
// redrawn on a terminal, a line a second elsewhere. The device does the
// work in one request, so elapsed time is what there is to show; the
// collectors' own times follow when the bundle is in (printSections).
func showProgress(w io.Writer, start time.Time) (stop func()) {
	tty := isTerminal(w)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every := time.Second
		if tty {
			every = 200 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		fmt.Fprint(w, "collecting: device, lines, calls, account, line test, network, router, NAT …")
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				} else {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(w, "\r\033[Kcollecting … %.1f s", time.Since(start).Seconds())
				} else {
					fmt.Fprint(w, ".")
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// printSections lists how each collector fared, from the bundle itself.
func printSections(w io.Writer, bundle []byte) {
	files, err := diag.ReadArchive(bytes.NewReader(bundle))
	if err != nil {
		fmt.Fprintf(w, "the bundle cannot be read back: %v\n", err)
		return
	}
	for _, f := range files {
		if f.Name != "diag.json" {
			continue
		}
		var e struct {
			Sections []diag.Section `json:"sections"`
		}
		if err := json.Unmarshal(f.Data, &e); err != nil {
			fmt.Fprintf(w, "diag.json: %v\n", err)
			return
		}
		for _, s := range e.Sections {
			state := "ok"
			if s.Error != "" {
				state = s.Error
			}
			fmt.Fprintf(w, "  %-14s %6d ms  %s\n", s.Name, s.TookMS, state)
		}
	}
}
