// Command devbilling is the development billing back end for `make run`: one
// prepaid account on loopback, with the contract's API under /v1/ and
// switches under /dev/ for suspension, recharge declines, broken answers
// and outages. See docs/devbilling.md. It is a development tool and never
// part of a device image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/scripts/devbilling/billing"
	"github.com/tipring/tipring/scripts/devbilling/support"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devbilling:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, logging to logOut.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	fs := flag.NewFlagSet("devbilling", flag.ContinueOnError)
	fs.SetOutput(logOut)
	listen := fs.String("listen", "127.0.0.1:8090", "HTTP address (loopback only)")
	account := fs.String("account", "100200300", "the account id")
	token := fs.String("token", "dev-token", "the device's bearer token")
	balance := fs.String("balance", "5.00", "opening balance")
	currency := fs.String("currency", billing.DefaultCurrency, "the account's currency (ISO 4217)")
	debug := fs.Bool("debug", false, "log every request")
	supportDir := fs.String("support-dir", "", "also be the support desk: keep bundles devices send from the handset here (POST /support/bundles)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	addr, err := parseListen(*listen)
	if err != nil {
		return err
	}
	bal, err := meter.ParseMoney(*balance)
	if err != nil {
		return fmt.Errorf("-balance: %w", err)
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	srv, err := billing.New(billing.Config{
		Account: *account, Token: *token, Currency: *currency, Balance: bal, Logger: log,
	})
	if err != nil {
		return err
	}
	handler := srv.Handler()
	if *supportDir != "" {
		desk, err := support.New(*supportDir, log)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/support/", desk.Handler())
		mux.Handle("/", handler)
		handler = mux
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with ctx, so that a request held by the "hang"
		// outage does not hold up the shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	// Scripts wait for this line before starting the firmware.
	log.Info("devbilling listening on "+ln.Addr().String(), "account", *account, "balance", bal, "currency", *currency)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = hs.Shutdown(shutCtx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("devbilling stopped")
	return err
}

// parseListen accepts a loopback IP and a port (0 picks a free one).
func parseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-listen %q: want IP:port such as 127.0.0.1:8090: %w", s, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("-listen %s is not a loopback address: the development back end serves this machine only", ap)
	}
	return ap, nil
}
