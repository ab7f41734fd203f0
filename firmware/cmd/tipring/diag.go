package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

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
	fmt.Fprintln(stderr, "collecting: device, lines, calls, account, line test, network …")
	start := time.Now()
	b, err := c.Bundle(ctx, api.BundleOptions{Anonymize: *anon, Phone: *phone, Problem: *problem})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes) in %v; summary.txt inside answers the support checklist\n", *out, len(b), time.Since(start).Round(time.Millisecond))
	return nil
}
