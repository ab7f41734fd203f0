// Command tipring is the firmware's one binary: it runs the device and is
// the command line for the people who install and support it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the firmware: tipring run --config FILE", runCmd},
		{"phone", "drive the sim board's virtual phone: tipring phone PORT offhook|onhook|flash|dial DIGITS|send|state|heard FILE", phoneCmd},
		{"status", "show registration and line state of the running firmware", statusCmd},
		{"balance", "show the cached prepaid balance", balanceCmd},
		{"calls", "list the call history with each charge explained (--csv, --json)", callsCmd},
		{"statement", "monthly statement: tipring statement YYYY-MM", statementCmd},
		{"diag", "diagnostics bundle for support: tipring diag bundle -o FILE", diagCmd},
		{"provision", "write a configuration from flags for a bench setup: tipring provision --user U --password P --registrar HOST", provisionCmd},
		{"reset", "factory reset: tipring reset --yes (or --offline --yes when tipring is not running)", resetCmd},
		{"flash", "write and verify a disk image: tipring flash --image FILE --device /dev/sdX [--batch]", flashCmd},
		{"update", "install a signed firmware image: tipring update IMAGE (or --offline --data DIR IMAGE; --status)", updateCmd},
		{"boot", "sim board's bootloader: run the A/B slots of --data, roll back a new image that does not confirm", bootCmd},
		{"version", "print the firmware version", versionCmd},
	}
}

// errUsage marks an error caused by how the command was called; the
// message is printed without a stack of context.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "tipring %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "tipring %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "tipring: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tipring COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func versionCmd(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "tipring %s\n", version)
	return nil
}

// writeJSONOut prints v as indented JSON: every command's --json, and
// phone state.
func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
