// Command devprovider is the development SIP provider for `make run`: a
// registrar and call router on loopback with test numbers (600 tone, 601
// echo, 602 busy, 603 call-back, 604 early media). See docs/devprovider.md.
// It is a development tool and never part of a device image.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tipring/tipring/scripts/devprovider/provider"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devprovider:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devprovider", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5070", "UDP and TCP address to serve SIP on (loopback only)")
	users := fs.String("users", "1001:pass1001,1002:pass1002", "users and passwords: user:password,…")
	rtp := fs.String("rtp-ports", "17000-17998", "UDP port range for the test numbers' audio")
	realm := fs.String("realm", provider.DefaultRealm, "digest realm and domain")
	debug := fs.Bool("debug", false, "log sipgo's debug messages too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	addr, err := provider.ParseListen(*listen)
	if err != nil {
		return err
	}
	u, err := provider.ParseUsers(*users)
	if err != nil {
		return err
	}
	lo, hi, err := provider.ParsePortRange(*rtp)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	p, err := provider.New(provider.Config{
		Listen: addr, Users: u, RTPPortMin: lo, RTPPortMax: hi, Realm: *realm, Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return p.Run(ctx, nil)
}
